"""Former name of :mod:`dse.channels` (HBM pseudo-channels and DDR banks); kept for imports."""

from dse.channels import channel_gbps, channels_used, port_cap_gbps, ports_used, stream_gbps

__all__ = ["channel_gbps", "channels_used", "port_cap_gbps", "ports_used", "stream_gbps"]
