"""Traffic annotation: which service most likely produced each flow of a Zeek conn.log or flow table."""
