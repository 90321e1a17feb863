# cython: language_level=3
"""Every result code of tickwire, once (C side). Header-only: nothing to import at run time.

A result code is a negative int: hot paths return it, Python layers turn it into a
``core.codes.TickwireError`` subclass or print its NAME. Each area owns one disjoint range:

    area      range            names                  who returns them
    ORDER     -1..-99          RC_*                   matching / validation (Event.reason, CSV, README)
    RISK      -100..-199       RISK_*                 pre-trade risk (Event.reason)
    LOOP      -200..-299       RC_*, JOURNAL_*        engine loop (-200..-209) and journal (-210..)
    PCAP      -300..-399       PCAP_E_*               pcap / pcapng files
    READ      -400..-499       READ_E_*               file readers (gzip, format sniffing)
    ITCH      -500..-599       ITCH_E_*               ITCH framing and decoding
    DATAPATH  -600..-699       KSRC_E_*, SRC_E_*, PKT_E_*   opening sources, rx_burst, packet parsing
    DPDK      -700..-799       EAL_E_*, PORT_E_*      DPDK bindings
    MOLD      -800..-899       MOLD_E_*               MoldUDP64 framer and live session
    BOOK      -900..-999       BOOK_*                 book builder (counted faults, never fatal)
    SOUP      -1000..-1099     SOUP_E_*               SoupBinTCP client
    GEN       -1100..-1199     GEN_E_*                ITCH day generator (tickwire/daygen)
    SBE       -1200..-1299     SBE_E_*                SBE wire messages (messaging/sbe_wire.pxd sbe_check, messaging.sbe)
    AERON     -1300..-1399     AERON_E_*              Aeron transport (messaging/transport, messaging/driver, channels)
    STRATEGY  -1500..-1599     STRAT_E_*              strategy library: orders its own limits refuse, configuration, backtest
    GATEWAY   -1600..-1699     GW_E_*                 order gateway sessions (services/gateway, strategy/oe_client)

Format (``core/codes.py`` parses this file: it is the single source of the Python table and of
docs/codes.md): one ``cdef enum`` per area under a banner ``# ==== AREA lo..hi: what ====``, one
code per line, ``NAME = value  # message`` (the message Python layers print). Event.reason is
int16: engine codes (ORDER, RISK, LOOP) must stay above -32768.
"""

# ==== ORDER -1..-99: engine validation and matching rejects ====
cdef enum:
    RC_INVALID_QTY = -1               # quantity must be a positive integer
    RC_PRICE_NOT_ON_TICK = -2         # price is not a multiple of the symbol's tick size
    RC_UNKNOWN_SYMBOL = -3            # symbol is not configured
    RC_UNKNOWN_ORDER = -4             # order id is not known
    RC_DUPLICATE_ORDER_ID = -5        # order id was already used
    RC_ORDER_NOT_OPEN = -6            # order is already filled, cancelled or expired
    RC_POST_ONLY_WOULD_CROSS = -7     # post-only order would take liquidity
    RC_FOK_NOT_FILLABLE = -8          # fill-or-kill order cannot be filled completely now
    RC_MARKET_NO_LIQUIDITY = -9       # market order found no liquidity on the opposite side
    RC_INVALID_DISPLAY_QTY = -10      # iceberg display quantity must be positive and not above the quantity
    RC_INVALID_TIF_TYPE = -11         # time in force, order type and flags do not combine
    RC_GTD_WITHOUT_EXPIRY = -12       # good-till-date order needs expire_ns
    RC_GTD_EXPIRED = -13              # good-till-date expiry is not after the command time
    RC_INVALID_PRICE = -14            # limit price must be positive; market and stop orders take no limit price
    RC_INVALID_STOP_PRICE = -15       # stop orders need a positive stop price
    RC_INVALID_SIDE = -16             # side must be buy or sell
    RC_INVALID_TYPE = -17             # order type must be limit, market, stop or stop_limit
    RC_INVALID_TIF = -18              # time in force must be day, gtc, ioc, fok or gtd
    RC_INVALID_ACTION = -19           # action is not known
    RC_NOT_OWNER = -20                # order belongs to another account
    RC_MODIFY_INVALID = -21           # modify not allowed on a pending (untriggered) stop order
    RC_POOL_EXHAUSTED = -22           # order pool is full
    RC_MALFORMED = -23                # record is malformed
    RC_INVALID_STP = -24              # self-trade prevention mode is not known
    RC_INVALID_FLAGS = -25            # unknown flag bits
    RC_INVALID_LINK = -26             # OCO link must name an open, unlinked order of the same account

# ==== RISK -100..-199: pre-trade risk rejects (a duplicate order id is RC_DUPLICATE_ORDER_ID) ====
cdef enum:
    RISK_UNKNOWN_ACCOUNT = -100       # account is not configured or its id is beyond max_accounts
    RISK_UNKNOWN_SYMBOL = -101        # symbol id is beyond the risk table's max_symbols
    RISK_UNKNOWN_FIRM = -102          # firm id is beyond max_firms
    RISK_FIRM_MISMATCH = -103         # command firm_id differs from the account's configured firm
    RISK_KILL_SWITCH = -104           # kill switch is engaged for the account or its firm
    RISK_RESTRICTED_SYMBOL = -105     # symbol is restricted
    RISK_NOT_PERMITTED = -106         # account is not permitted to trade this symbol on this side
    RISK_SHORT_SALE = -107            # sell could open a short position and the account may not sell short
    RISK_MAX_ORDER_QTY = -109         # order quantity is above the maximum order quantity
    RISK_MAX_ORDER_NOTIONAL = -110    # order notional (price x quantity) is above the maximum
    RISK_NO_REFERENCE_PRICE = -111    # no reference price is known for the collar or the market order
    RISK_PRICE_COLLAR = -112          # limit price is outside the collar around the reference price
    RISK_MAX_OPEN_ORDERS = -113       # account has the maximum number of open orders
    RISK_NET_POSITION = -114          # worst-case net position in the symbol would exceed the limit
    RISK_GROSS_POSITION = -115        # worst-case gross position of the account would exceed the limit
    RISK_CONCENTRATION = -116         # symbol's share of the account's gross exposure would exceed the limit
    RISK_BUYING_POWER = -117          # margin requirement would exceed the account's buying power
    RISK_ORDER_RATE = -118            # account's order rate throttle
    RISK_MESSAGE_RATE = -119          # account's message rate throttle
    RISK_FIRM_OPEN_ORDERS = -120      # firm has the maximum number of open orders
    RISK_FIRM_GROSS_POSITION = -121   # worst-case gross position of the firm would exceed the limit
    RISK_FIRM_BUYING_POWER = -122     # margin requirement would exceed the firm's buying power
    RISK_FIRM_ORDER_RATE = -123       # firm's order rate throttle
    RISK_FIRM_MESSAGE_RATE = -124     # firm's message rate throttle
    RISK_COD_DISABLED = -125          # session has cancel-on-disconnect off: its orders stay open
    RISK_ORDER_TABLE_FULL = -126      # risk order table is full (raise sizes.max_orders)

# ==== LOOP -200..-299: engine loop (-200..-209) and command journal (-210..) ====
cdef enum:
    RC_SEQ_OUT_OF_ORDER = -200        # sequence number is not above the previous one
    RC_JOURNAL_FAILED = -201          # journal append failed; command not applied
    RC_LOOP_STOPPED = -202            # engine loop stopped by a failed journal commit; nothing more is run
    JOURNAL_CLOSED = -210             # journal is closed
    JOURNAL_FAILED_STICKY = -211      # an earlier write or fsync failed; the journal refuses appends
    JOURNAL_BAD_LENGTH = -212         # payload is empty or longer than max_payload
    JOURNAL_SEQ_NOT_INCREASING = -213 # sequence number is not above the last appended one
    JOURNAL_WRITE = -214              # write to the journal segment failed
    JOURNAL_FSYNC = -215              # fdatasync of the journal failed; durability of recent records is unknown
    JOURNAL_PREALLOCATE = -216        # could not preallocate the journal segment (disk full?)
    JOURNAL_SEGMENT = -217            # could not create the next journal segment file
    JOURNAL_LOCKED = -218             # another process is writing this journal directory
    JOURNAL_BAD_HEADER = -220         # segment header has a bad magic, version or CRC
    JOURNAL_CORRUPT = -221            # bad record (CRC or length) followed by valid records: mid-journal corruption
    JOURNAL_SEQ_ORDER = -222          # records do not have increasing sequence numbers
    JOURNAL_SEGMENT_GAP = -223        # a segment after a torn segment holds records
    JOURNAL_SEGMENT_MISSING = -224    # a segment of the journal's chain is missing (first, middle or last: the message says which)

# ==== PCAP -300..-399: pcap and pcapng files ====
cdef enum:
    PCAP_E_BAD_MAGIC = -301           # not a pcap or pcapng file (unknown magic number)
    PCAP_E_TRUNCATED = -302           # truncated capture: a record runs past the end of the file
    PCAP_E_BAD_BLOCK = -303           # invalid pcapng block
    PCAP_E_LINKTYPE = -304            # unsupported link type (supported: Ethernet, raw IPv4, Linux SLL/SLL2, BSD null)
    PCAP_E_EMPTY = -305               # file too short for a capture header
    PCAP_E_VERSION = -306             # pcap file format version other than 2.x (the only one defined)

# ==== READ -400..-499: file readers ====
cdef enum:
    READ_E_GZIP_TRUNCATED = -401      # gzip stream truncated before its end-of-stream marker
    READ_E_GZIP_BAD = -402            # corrupt gzip data
    READ_E_FORMAT = -403              # file format not recognised
    READ_E_NO_MESSAGES = -404         # the capture has frames but not one ITCH 5.0 message

# ==== ITCH -500..-599: ITCH 5.0 framing and decoding ====
cdef enum:
    ITCH_OK = 0
    ITCH_E_TRUNCATED = -501           # stream ends inside an ITCH frame (truncated file or packet)
    ITCH_E_ZERO_LENGTH = -502         # zero length prefix (not valid binaryFILE framing; recover_zero_lengths=True frames by type)
    ITCH_E_NOT_ITCH50 = -503          # not an ITCH 5.0 stream: the first frames are not ITCH 5.0 message types of spec length
    ITCH_E_ZERO_LENGTH_UNKNOWN = -504 # zero length prefix followed by a byte that is not an ITCH 5.0 type: cannot recover
    ITCH_E_STOPPED = -505             # the framer stopped at an earlier error
    ITCH_E_UNKNOWN_TYPE = -506        # message type is not an ITCH 5.0 type
    ITCH_E_BAD_LENGTH = -507          # message length differs from the type's spec length
    ITCH_E_LOST_FRAMING = -508        # length prefix above the longest ITCH 5.0 message (50 bytes): the framing is lost

# ==== DATAPATH -600..-699: opening kernel-path sources (-601..), rx_burst (-620..), packet parsing (-640..) ====
cdef enum:
    KSRC_E_NO_INTERFACE = -601        # no such network interface in this network namespace
    KSRC_E_SOCKET = -602              # socket() failed (AF_PACKET and AF_XDP need CAP_NET_RAW / root)
    KSRC_E_BIND = -603                # bind() failed
    KSRC_E_JOIN = -604                # multicast join (IP_ADD_MEMBERSHIP) failed
    KSRC_E_SOCKOPT = -605             # setsockopt() failed
    KSRC_E_RING = -606                # could not set up the TPACKET_V3 receive ring (PACKET_RX_RING / mmap)
    KSRC_E_FANOUT = -607              # PACKET_FANOUT failed (group in use with another mode, or bad mode)
    KSRC_E_FILTER = -608              # could not attach the classic BPF filter
    KSRC_E_BAD_OPTION = -609          # invalid source option
    KSRC_E_XDP_PROGRAM = -610         # could not build, load or attach the XDP program
    KSRC_E_XSK_BUSY = -611            # the interface queue still has an AF_XDP socket bound (EBUSY past the retry deadline)
    KSRC_E_XSK = -612                 # xsk_socket__create failed
    KSRC_E_UMEM = -613                # could not create the AF_XDP UMEM
    KSRC_E_CLOSED = -615              # the source is closed
    SRC_E_CLOSED = -620               # source not open, or closed
    SRC_E_IO = -621                   # the kernel or driver reported an error (errno in source.last_errno)
    SRC_E_END = -622                  # a finite source (file) is exhausted
    PKT_E_SHORT = -641                # frame shorter than the headers it announces
    PKT_E_NOT_IPV4 = -642             # ethertype is not IPv4 (after up to two VLAN tags)
    PKT_E_NOT_UDP = -643              # IPv4 protocol is not UDP
    PKT_E_FRAGMENT = -644             # IPv4 fragment (MoldUDP64 packets are never fragmented on a sane feed)
    PKT_E_BAD_IP = -645               # IPv4 version, IHL or total length inconsistent with the frame
    PKT_E_BAD_UDP = -646              # UDP length inconsistent with the IPv4 payload
    PKT_E_FILTERED = -647             # valid UDP but not the wanted destination (group/port)

# ==== DPDK -700..-799: EAL (-701..) and ethdev ports (-711..) ====
cdef enum:
    EAL_E_INIT = -701                 # rte_eal_init failed
    EAL_E_ALREADY = -702              # the EAL is already initialised with other arguments; it can be initialised once per process
    EAL_E_CLEANED = -703              # the EAL was cleaned up in this process and cannot be initialised again
    EAL_E_NOT_INIT = -704             # the EAL is not initialised: call dpdk_bindings.eal.init() first
    EAL_E_BAD_CONFIG = -705           # invalid EAL configuration
    EAL_E_PROBE = -706                # a device given to the EAL failed to probe
    PORT_E_NO_PORT = -711             # no such DPDK port
    PORT_E_CONFIGURE = -712           # rte_eth_dev_configure failed
    PORT_E_QUEUE = -713               # queue setup failed
    PORT_E_START = -714               # rte_eth_dev_start failed
    PORT_E_MEMPOOL = -715             # mbuf pool creation failed
    PORT_E_STATE = -716               # invalid port state for this call
    PORT_E_CALL = -717                # ethdev call failed

# ==== MOLD -800..-899: MoldUDP64 packets (framer and live session) ====
cdef enum:
    MOLD_E_SHORT = -801               # packet shorter than the 20-byte MoldUDP64 header
    MOLD_E_TRUNCATED = -802           # a message block runs past the end of the MoldUDP64 packet
    MOLD_E_DUPLICATE = -803           # every message of the MoldUDP64 packet was already delivered
    MOLD_E_HELD = -804                # packet held by the session layer after a gap
    MOLD_E_WRONG_SESSION = -805       # packet of another MoldUDP64 session
    MOLD_E_OVERFLOW = -806            # reserved, no longer returned: a full reorder ring gives up its oldest gap instead
    MOLD_E_UNRECOVERABLE = -807       # gap given up after the maximum number of requests
    MOLD_E_REQUEST_IO = -808          # the request sender failed
    MOLD_E_IMPLAUSIBLE_SEQ = -809     # sequence number too far beyond the highest seen (corrupt or foreign packet)
    MOLD_E_SUSPECT_SESSION = -810     # another session name mid-stream, not (yet) confirmed by chained packets: dropped
    MOLD_E_IMPOSSIBLE_COUNT = -811    # message count the packet cannot hold, End of Session with messages or below what was seen

# ==== BOOK -900..-999: book builder faults (counted, never fatal) ====
cdef enum:
    BOOK_UNKNOWN_REF = -901           # order reference is not live in any book (E/C/X/D/U): message ignored
    BOOK_DUPLICATE_ADD = -902         # add of a reference that is already live: the stale order was removed and the new one added
    BOOK_OVER_EXECUTION = -903        # executed shares exceed the order's remaining shares: clamped to the remainder, order removed
    BOOK_OVER_CANCEL = -904           # cancelled shares exceed the order's remaining shares: clamped to the remainder, order removed
    BOOK_ZERO_SHARES = -905           # add or replace with 0 shares: rejected (a replace leaves the original order)
    BOOK_ZERO_PRICE = -906            # add or replace with price 0: rejected (a replace leaves the original order)
    BOOK_BAD_SIDE = -907              # add with a Buy/Sell indicator other than 'B' or 'S': rejected
    BOOK_REF_OUT_OF_RANGE = -908      # order reference above max_ref: rejected / ignored
    BOOK_LOCATE_OUT_OF_RANGE = -909   # stock locate 0 on an add, or >= max_locates: rejected
    BOOK_REPLACE_ONTO_LIVE = -910     # replace whose new reference is already live: the stale order was removed and the replace applied
    BOOK_ZERO_SHARES_MOD = -911       # execute or cancel of 0 shares: ignored
    BOOK_NO_MEMORY = -912             # an allocation failed: message dropped, book unchanged
    BOOK_BAD_MESSAGE = -913           # not an ITCH 5.0 message type, or length differs from the spec length
    BOOK_ZERO_REF = -914              # add or replace with order reference 0 (not a valid ITCH reference): rejected (a replace leaves the original order)

# ==== SOUP -1000..-1099: SoupBinTCP client ====
cdef enum:
    SOUP_E_NOT_AUTHORIZED = -1001     # login rejected: not authorized (bad user or password)
    SOUP_E_SESSION_UNAVAILABLE = -1002  # login rejected: requested session not available
    SOUP_E_PEER_DEAD = -1003          # peer silent longer than the timeout (no heartbeat)
    SOUP_E_PROTOCOL = -1004           # protocol violation
    SOUP_E_DISCONNECTED = -1005       # connection closed by the peer
    SOUP_E_CONNECT = -1006            # cannot connect to the server
    SOUP_E_RECONNECTS = -1007         # gave up after the maximum number of re-logins

# ==== GEN -1100..-1199: ITCH day generator (DayGen.err) ====
cdef enum:
    GEN_E_NOMEM = -1101               # out of memory while growing the live-order arrays
    GEN_E_INVARIANT = -1102           # internal invariant broken (crossed book or dead reference); this is a generator bug, please report the seed

# ==== SBE -1200..-1299: SBE wire messages (sbe_check refusals -1201..-1215, Python encoder -1220..) ====
cdef enum:
    SBE_E_SHORT_HEADER = -1201        # buffer is shorter than the 8-byte SBE message header
    SBE_E_SCHEMA_ID = -1202           # message header names another schema id than tickwire's (7)
    SBE_E_VERSION = -1203             # message header has schema version 0 (tickwire's first version is 1)
    SBE_E_UNKNOWN_TEMPLATE = -1204    # template id is not a message of the schema
    SBE_E_SHORT_BLOCK = -1205         # blockLength is below the message's block length in the schema
    SBE_E_TRUNCATED = -1206           # buffer ends inside the message block (bad length)
    SBE_E_TRUNCATED_GROUP = -1207     # buffer ends inside the repeating group's header or entries
    SBE_E_GROUP_BLOCK = -1208         # group entry blockLength is below the entry length in the schema
    SBE_E_ENCODE = -1220              # value does not fit its field, or no such message or field (Python encoder)
# ==== AERON -1300..-1399: Aeron transport, media driver and stream configuration (messaging/) ====
cdef enum:
    AERON_E_NO_DRIVER = -1301         # no Aeron media driver is active at the directory (start one: tickwire driver)
    AERON_E_CLIENT = -1302            # the Aeron client could not start or lost its media driver
    AERON_E_ADD = -1303               # the media driver refused the publication or subscription (bad channel?)
    AERON_E_NOT_CONNECTED = -1304     # offer failed: no subscriber is connected to the publication
    AERON_E_BACK_PRESSURED = -1305    # offer failed: back-pressured by the slowest subscriber (retry bound reached under RETRY_BOUNDED)
    AERON_E_ADMIN_ACTION = -1306      # offer failed: the log was rotating (admin action) until the retry bound
    AERON_E_CLOSED = -1307            # offer failed: the publication is closed
    AERON_E_MAX_POSITION = -1308      # offer failed: the publication reached its maximum position
    AERON_E_ERROR = -1309             # offer failed: Aeron client error
    AERON_E_TOO_LONG = -1310          # message longer than the publication allows (claim: above the max payload)
    AERON_E_DRIVER_ACTIVE = -1311     # a media driver is already active at the directory
    AERON_E_DRIVER_START = -1312      # the media driver could not start
    AERON_E_CONFIG = -1313            # bad stream or idle-strategy configuration
    AERON_E_TIMEOUT = -1314           # the media driver did not answer in time

# ==== STRATEGY -1500..-1599: strategy library (strategy/: its own limits, configuration, backtest) ====
cdef enum:
    STRAT_E_HALTED = -1501            # order refused: the strategy is halted (loss limit or halt())
    STRAT_E_MAX_ORDER_QTY = -1502     # order refused: quantity zero or above limits.max_order_qty
    STRAT_E_MAX_POSITION = -1503      # order refused: position plus working orders could pass limits.max_position
    STRAT_E_MAX_OPEN_ORDERS = -1504   # order refused: limits.max_open_orders working orders already
    STRAT_E_MAX_NOTIONAL = -1505      # order refused: price x qty above limits.max_notional (or no price to bound it)
    STRAT_E_SYMBOL_NOT_CONFIGURED = -1506  # order refused: symbol not in the strategy's symbols
    STRAT_E_BAD_FLAGS = -1507         # order refused: unknown flag bits
    STRAT_E_PORT_REFUSED = -1508      # order refused: the order port could not take the request
    STRAT_E_CONFIG = -1509            # strategy configuration refused (key and reason)
    STRAT_E_RUNAWAY = -1510           # backtest stopped: the strategy answers execution reports with requests without end
    STRAT_E_FAST_NOT_LOGGED_IN = -1520  # fast path: order refused, no order-entry session logged in
    STRAT_E_FAST_UNKNOWN_SYMBOL = -1521  # fast path: order refused, the book's symbol is not one the gateway trades
    STRAT_E_FAST_CLAIM = -1522        # fast path: order refused, no buffer claimed on order_entry (back-pressure, not connected)

# ==== GATEWAY -1600..-1699: order-entry sessions of the gateway (services/gateway.py, gateway_loop.pyx, strategy/oe_client.py) ====
cdef enum:
    GW_E_BAD_CREDENTIAL = -1601       # login refused: unknown user or wrong credential
    GW_E_ALREADY_LOGGED_IN = -1602    # login refused: the user already has a session logged in
    GW_E_NOT_LOGGED_IN = -1603        # message refused: its Aeron image has no session logged in
    GW_E_SEQ_GAP = -1604              # message refused: its seq is above the next one expected (messages lost)
    GW_E_SEQ_DUPLICATE = -1605        # message refused: its seq is below the next one expected (duplicate)
    GW_E_MALFORMED = -1606            # message refused: not a valid SBE message of the schema (sbe_check code counted)
    GW_E_WRONG_DIRECTION = -1607      # message refused: a gateway-to-client template sent to the gateway
    GW_E_BAD_ORDER_ID = -1608         # order refused: client order id 0 or not below 2^40
    GW_E_PUBLISH = -1609              # an execution report could not be published within the bound: session disconnected
    GW_E_HEARTBEAT_TIMEOUT = -1610    # session disconnected: nothing received within heartbeat_timeout_ms
    GW_E_IMAGE_LOST = -1611           # session disconnected: its Aeron image went away
    GW_E_LOGIN_TIMEOUT = -1612        # client: no login answer in time
    GW_E_REPORT_GAP = -1613           # client: an execution report seq skipped numbers (a resend is asked)
