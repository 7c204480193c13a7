"""API keys for tests: long enough for the daemon (16 characters at least), one per role.

``[api.keys.NAME]`` tables for a config file are in :data:`KEYS_TOML`; ``api_keys = [...]``
keys are admin keys named ``key-1``, ``key-2``...
"""

from __future__ import annotations

#: an admin key, as tests give it in ``api_keys`` or SYMBI_API_KEY
KEY = "test-admin-key-0123456789"
#: a second admin key, where a test needs another valid one
OTHER_KEY = "test-other-key-0123456789"
#: a key no daemon accepts (long enough to be refused for what it is, not for its length)
WRONG_KEY = "wrong-key-0123456789abcdef"
#: named keys, one per role
VIEWER_KEY = "test-viewer-key-0123456789"
OPERATOR_KEY = "test-operator-key-0123456789"
ALICE_KEY = "test-alice-key-0123456789"
ADMIN_KEY = "test-root-key-0123456789"

#: the named keys as [api.keys.NAME] tables (append after the [api] table's own keys)
KEYS_TOML = f"""
[api.keys.watcher]
key = "{VIEWER_KEY}"
role = "viewer"
[api.keys.ci]
key = "{OPERATOR_KEY}"
role = "operator"
[api.keys.alice]
key = "{ALICE_KEY}"
role = "operator"
[api.keys.root]
key = "{ADMIN_KEY}"
role = "admin"
"""
