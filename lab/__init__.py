"""The lab room: tools that stand in for the exchange in tests, benchmarks and labs.

The synthetic day generator (``daygen``, ``pcapwrite``), the paced MoldUDP64 sender (``sender``),
the MoldUDP64 server with its re-request answerer (``moldserve``) and the SoupBinTCP server
(``soupserve``, ``soup_encode``). They read captures and frame MoldUDP64 with the product's own
parts (``feedhandlers.reader``, ``MoldFramer``, ``datapath``); the CLI's commands
(``tickwire/commands``) only wire them to arguments.
"""
