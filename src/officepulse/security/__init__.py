"""Who may do what, and the secrets that prove it: the route access table, sessions and
CSRF (access.py), people's passwords (passwords.py), agents' secrets and the enrollment
tokens that hand them out (agent_secrets.py, enrollment.py), the server's TLS (tls.py),
and the Host and Origin rules (hosts.py) with the middleware that applies them (guard.py).

Nothing is imported here, so that whoever needs one piece (the agent hashes its
credential with agent_secrets) loads none of the others (argon2, cryptography, aiohttp).
"""
