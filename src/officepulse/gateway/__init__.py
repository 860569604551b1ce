"""The gateway: where agents come in. Their websocket (gateway.py), who may connect
(admission.py), the limits on connections and messages (limits.py), ingest, the one path
that writes spans (ingest.py), the one owner of agent state (agents.py), and acting on what
team leads did to agents (control.py). The server process (server/app.py) wires it with
the panel; nothing here imports server/ or panel/."""
