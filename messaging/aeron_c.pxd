# cython: language_level=3
"""Cython declarations of the Aeron 1.53 C client subset tickwire uses (``messaging/aeron_c.h``).

The library is pip pyaeron's extension module (``pyaeron/_pyaeron*.so``), which exports the whole
Aeron C client and media driver; setup.py links ``messaging.transport`` against it (rpath to the
installed pyaeron package). Only this file and ``aeron_c.h`` name Aeron's C API.
"""
from libc.stdint cimport int8_t, int16_t, int32_t, int64_t, uint8_t, uint64_t


cdef extern from "messaging/aeron_c.h" nogil:
    ctypedef struct aeron_context_t
    ctypedef struct aeron_t
    ctypedef struct aeron_publication_t
    ctypedef struct aeron_exclusive_publication_t
    ctypedef struct aeron_header_t
    ctypedef struct aeron_subscription_t
    ctypedef struct aeron_image_t
    ctypedef struct aeron_async_add_publication_t
    ctypedef struct aeron_async_add_exclusive_publication_t
    ctypedef struct aeron_async_add_subscription_t
    ctypedef struct aeron_fragment_assembler_t

    ctypedef struct aeron_header_values_frame_t:
        int32_t frame_length
        int8_t version
        uint8_t flags
        int16_t type
        int32_t term_offset
        int32_t session_id
        int32_t stream_id
        int32_t term_id
        int64_t reserved_value

    ctypedef struct aeron_header_values_t:
        aeron_header_values_frame_t frame
        int32_t initial_term_id
        size_t position_bits_to_shift

    ctypedef struct aeron_buffer_claim_t:
        uint8_t* frame_header
        uint8_t* data
        size_t length

    ctypedef struct aeron_image_constants_t:
        aeron_subscription_t* subscription
        const char* source_identity
        int64_t correlation_id
        int64_t join_position
        size_t position_bits_to_shift
        size_t term_buffer_length
        size_t mtu_length
        int32_t session_id
        int32_t initial_term_id
        int32_t subscriber_position_id

    long AERON_PUBLICATION_NOT_CONNECTED
    long AERON_PUBLICATION_BACK_PRESSURED
    long AERON_PUBLICATION_ADMIN_ACTION
    long AERON_PUBLICATION_CLOSED
    long AERON_PUBLICATION_MAX_POSITION_EXCEEDED
    long AERON_PUBLICATION_ERROR

    ctypedef void (*aeron_notification_t)(void* clientd) noexcept
    ctypedef void (*aeron_on_available_image_t)(void* clientd, aeron_subscription_t* subscription, aeron_image_t* image) noexcept
    ctypedef void (*aeron_on_unavailable_image_t)(void* clientd, aeron_subscription_t* subscription, aeron_image_t* image) noexcept
    ctypedef int64_t (*aeron_reserved_value_supplier_t)(void* clientd, uint8_t* buffer, size_t frame_length) noexcept
    ctypedef void (*aeron_fragment_handler_t)(void* clientd, const uint8_t* buffer, size_t length, aeron_header_t* header) noexcept
    ctypedef void (*aeron_log_func_t)(const char*) noexcept
    ctypedef void (*aeron_error_handler_t)(void* clientd, int errcode, const char* message) noexcept

    int aeron_context_init(aeron_context_t** context)
    int aeron_context_close(aeron_context_t* context)
    int aeron_context_set_dir(aeron_context_t* context, const char* value)
    int aeron_context_set_driver_timeout_ms(aeron_context_t* context, uint64_t value)
    int aeron_context_set_client_name(aeron_context_t* context, const char* value)
    int aeron_context_set_error_handler(aeron_context_t* context, aeron_error_handler_t handler, void* clientd)
    int aeron_init(aeron_t** client, aeron_context_t* context)
    int aeron_start(aeron_t* client)
    int aeron_close(aeron_t* client)
    bint aeron_is_closed(aeron_t* client)
    bint aeron_is_driver_active(const char* dirname, int64_t timeout_ms, aeron_log_func_t log_func)
    int aeron_errcode()
    const char* aeron_errmsg()
    int64_t aeron_nano_clock()

    int aeron_async_add_publication(aeron_async_add_publication_t** async_, aeron_t* client, const char* uri, int32_t stream_id)
    int aeron_async_add_publication_poll(aeron_publication_t** publication, aeron_async_add_publication_t* async_)
    int aeron_async_add_exclusive_publication(aeron_async_add_exclusive_publication_t** async_, aeron_t* client, const char* uri, int32_t stream_id)
    int aeron_async_add_exclusive_publication_poll(aeron_exclusive_publication_t** publication, aeron_async_add_exclusive_publication_t* async_)
    int aeron_async_add_subscription(aeron_async_add_subscription_t** async_, aeron_t* client, const char* uri, int32_t stream_id,
                                     aeron_on_available_image_t on_available, void* on_available_clientd,
                                     aeron_on_unavailable_image_t on_unavailable, void* on_unavailable_clientd)
    int aeron_async_add_subscription_poll(aeron_subscription_t** subscription, aeron_async_add_subscription_t* async_)

    int64_t aeron_publication_offer(aeron_publication_t* publication, const uint8_t* buffer, size_t length,
                                    aeron_reserved_value_supplier_t supplier, void* clientd)
    int64_t aeron_publication_try_claim(aeron_publication_t* publication, size_t length, aeron_buffer_claim_t* claim)
    bint aeron_publication_is_connected(aeron_publication_t* publication)
    int32_t aeron_publication_session_id(aeron_publication_t* publication)
    int aeron_publication_close(aeron_publication_t* publication, aeron_notification_t on_close_complete, void* clientd)
    int64_t aeron_exclusive_publication_offer(aeron_exclusive_publication_t* publication, const uint8_t* buffer, size_t length,
                                              aeron_reserved_value_supplier_t supplier, void* clientd)
    int64_t aeron_exclusive_publication_try_claim(aeron_exclusive_publication_t* publication, size_t length, aeron_buffer_claim_t* claim)
    bint aeron_exclusive_publication_is_connected(aeron_exclusive_publication_t* publication)
    int aeron_exclusive_publication_close(aeron_exclusive_publication_t* publication, aeron_notification_t on_close_complete, void* clientd)
    int aeron_buffer_claim_commit(aeron_buffer_claim_t* claim)
    int aeron_buffer_claim_abort(aeron_buffer_claim_t* claim)

    int aeron_subscription_poll(aeron_subscription_t* subscription, aeron_fragment_handler_t handler, void* clientd, size_t fragment_limit)
    int aeron_subscription_image_count(aeron_subscription_t* subscription)
    bint aeron_subscription_is_connected(aeron_subscription_t* subscription)
    int aeron_subscription_close(aeron_subscription_t* subscription, aeron_notification_t on_close_complete, void* clientd)
    int aeron_image_constants(aeron_image_t* image, aeron_image_constants_t* constants)
    int aeron_header_values(aeron_header_t* header, aeron_header_values_t* values)

    int aeron_fragment_assembler_create(aeron_fragment_assembler_t** assembler, aeron_fragment_handler_t delegate, void* delegate_clientd)
    int aeron_fragment_assembler_delete(aeron_fragment_assembler_t* assembler)
    void aeron_fragment_assembler_handler(void* clientd, const uint8_t* buffer, size_t length, aeron_header_t* header)

    # tickwire's image-event ring (aeron_c.h)
    enum:
        TW_IMAGE_RING
        TW_SOURCE_LEN
    ctypedef struct tw_image_event_t:
        int32_t kind
        int32_t session_id
        char source[64]
    ctypedef struct tw_image_ring_t:
        uint64_t head
        uint64_t tail
        uint64_t dropped
        int64_t images
    void tw_on_available_image(void* clientd, aeron_subscription_t* subscription, aeron_image_t* image)
    void tw_on_unavailable_image(void* clientd, aeron_subscription_t* subscription, aeron_image_t* image)
    int tw_ring_pop(tw_image_ring_t* r, tw_image_event_t* out)
    uint64_t tw_ring_dropped(tw_image_ring_t* r)
    void tw_quiet_log(const char* line)
    ctypedef struct tw_client_errors_t:
        uint64_t count
        int32_t last_code
        char last[256]
    void tw_on_client_error(void* clientd, int errcode, const char* message)
    uint64_t tw_errors_count(tw_client_errors_t* e)
    void tw_cpu_relax()
