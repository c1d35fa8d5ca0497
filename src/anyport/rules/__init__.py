"""Firewall rules from service names: select what to open, then render it for one platform.

selection = select_services(kb, ["sip", "rtp", "tcp/8443"], options)
output = get_target("nftables").generate(selection, options)
"""
