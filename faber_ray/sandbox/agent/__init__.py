"""The sandbox agent (PID 1 of every container, C sources beside this file) and the host half of its wire.

``build`` compiles the agent once per machine; ``protocol`` is the framing both sides speak; ``listener``
and ``channel`` are the host's end of the link to one container's agent.
"""
