"""Sources and snapshots: register, publish, verify, activate, retire."""
