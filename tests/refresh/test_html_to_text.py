"""A support team points a source at its help pages: the text that reaches the chunks reads as the
page does, a line per block, with bold words and links left inside their sentences."""

from __future__ import annotations

from pathlib import Path

from freshness.refresh.files import html_to_text, read_documents

RETURNS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Returns &amp; refunds
    | Example Outdoor</title>
  <style>.price { font-weight: bold; }</style>
  <script>window.dataLayer = [{"page": "returns"}];</script>
</head>
<body>
  <!-- navigation -->
  <header>
    <nav><ul><li><a href="/">Home</a></li><li><a href="/help">Help&nbsp;centre</a></li></ul></nav>
  </header>
  <main>
    <article>
      <h1>Returns &amp; refunds</h1>
      <p>Return any item within <b>30 days</b> of delivery.
         Items must be <i>unused</i> and in their
         <a href="/packaging">original packaging</a>.</p>
      <h2>How to <span class="highlight">start</span> a return</h2>
      <ol>
        <li>Sign in and open <em>Orders</em>.</li>
        <li>Choose the item, then <strong>Return</strong>.</li>
        <li>Print the label; drop the parcel at any post office.</li>
      </ol>
      <p>Refunds reach your card in 5&ndash;7 working days.<br>Gift cards are refunded as store credit.</p>
      <h2>Fees</h2>
      <table>
        <thead><tr><th>Country</th><th>Return fee</th></tr></thead>
        <tbody>
          <tr><td>Germany</td><td>free</td></tr>
          <tr><td>Switzerland</td><td>&euro;&nbsp;9.90</td></tr>
        </tbody>
      </table>
      <p>Track a return from the command line with <code>returns status --order 1042</code>:</p>
      <pre>
$ returns status --order 1042
  label:   printed
  parcel:  in transit
</pre>
      <template><p>Hidden template row</p></template>
      <noscript>Enable JavaScript for live tracking.</noscript>
    </article>
  </main>
  <footer><p>&copy; 2025 Example Outdoor &middot; <a href="/privacy">Privacy</a></p></footer>
  <script>track("returns");</script>
</body>
</html>
"""

RETURNS_TEXT = """Home
Help centre
Returns & refunds
Return any item within 30 days of delivery. Items must be unused and in their original packaging.
How to start a return
Sign in and open Orders.
Choose the item, then Return.
Print the label; drop the parcel at any post office.
Refunds reach your card in 5\u20137 working days.
Gift cards are refunded as store credit.
Fees
Country | Return fee
Germany | free
Switzerland | \u20ac 9.90
Track a return from the command line with returns status --order 1042:
$ returns status --order 1042
  label:   printed
  parcel:  in transit
\u00a9 2025 Example Outdoor \u00b7 Privacy"""


def test_a_help_page_reads_a_line_per_block_with_inline_words_in_place() -> None:
    text, title = html_to_text(RETURNS_PAGE)

    assert text == RETURNS_TEXT
    assert title == "Returns & refunds | Example Outdoor"


def test_bold_words_stay_inside_their_sentence() -> None:
    text, title = html_to_text("<p>Return within <b>30 days</b>.</p>")

    assert (text, title) == ("Return within 30 days.", None)


def test_words_joined_by_inline_markup_are_not_split_and_adjacent_blocks_are() -> None:
    text, _ = html_to_text("<div>Aero<b>2</b> shoe</div><div>in <a href='#'>stock</a></div>tail")

    assert text.splitlines() == ["Aero2 shoe", "in stock", "tail"]


def test_a_folder_of_help_pages_becomes_documents_with_page_titles(tmp_path: Path) -> None:
    (tmp_path / "returns.html").write_text(RETURNS_PAGE, encoding="utf-8")
    (tmp_path / "script-only.html").write_text("<html><body><script>x()</script></body></html>", encoding="utf-8")

    documents = read_documents(tmp_path)

    # A page with nothing visible holds no text and is not published as an empty document.
    assert documents == [{"id": "returns.html", "title": "Returns & refunds | Example Outdoor", "text": RETURNS_TEXT}]


def test_a_page_nested_thousands_of_levels_deep_is_still_read() -> None:
    text, _ = html_to_text("<div>" * 5000 + "deep <b>inside</b>" + "</div>" * 5000)

    assert text == "deep inside"
