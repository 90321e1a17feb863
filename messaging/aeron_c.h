/*
 * The subset of the Aeron 1.53 C client API (aeronc.h) that tickwire's transport uses, declared here
 * because pip pyaeron ships the client (inside pyaeron/_pyaeron*.so, which messaging/transport links
 * against, see setup.py) but no header. Names, signatures and struct layouts are those of aeronc.h
 * 1.53; aeron_header_values_t and aeron_image_constants_t must keep 1.53's exact layout
 * (tests/test_aeron_transport.py checks the sizes against what the library fills in).
 *
 * Below the Aeron part: tickwire's own lock-free single-producer ring of image events (the client
 * conductor thread produces, the subscriber's owner drains).
 */
#ifndef TW_AERON_C_H
#define TW_AERON_C_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>

typedef struct aeron_context_stct aeron_context_t;
typedef struct aeron_stct aeron_t;
typedef struct aeron_publication_stct aeron_publication_t;
typedef struct aeron_exclusive_publication_stct aeron_exclusive_publication_t;
typedef struct aeron_header_stct aeron_header_t;
typedef struct aeron_subscription_stct aeron_subscription_t;
typedef struct aeron_image_stct aeron_image_t;
typedef struct aeron_client_registering_resource_stct aeron_async_add_publication_t;
typedef struct aeron_client_registering_resource_stct aeron_async_add_exclusive_publication_t;
typedef struct aeron_client_registering_resource_stct aeron_async_add_subscription_t;
typedef struct aeron_fragment_assembler_stct aeron_fragment_assembler_t;

#pragma pack(push)
#pragma pack(4)
typedef struct aeron_header_values_frame_stct
{
    int32_t frame_length;
    int8_t version;
    uint8_t flags;
    int16_t type;
    int32_t term_offset;
    int32_t session_id;
    int32_t stream_id;
    int32_t term_id;
    int64_t reserved_value;
}
aeron_header_values_frame_t;

typedef struct aeron_header_values_stct
{
    aeron_header_values_frame_t frame;
    int32_t initial_term_id;
    size_t position_bits_to_shift;
}
aeron_header_values_t;
#pragma pack(pop)

typedef struct aeron_buffer_claim_stct
{
    uint8_t *frame_header;
    uint8_t *data;
    size_t length;
}
aeron_buffer_claim_t;

typedef struct aeron_image_constants_stct
{
    aeron_subscription_t *subscription;
    const char *source_identity;
    int64_t correlation_id;
    int64_t join_position;
    size_t position_bits_to_shift;
    size_t term_buffer_length;
    size_t mtu_length;
    int32_t session_id;
    int32_t initial_term_id;
    int32_t subscriber_position_id;
}
aeron_image_constants_t;

/* aeron_publication_offer / try_claim results below zero */
#define AERON_PUBLICATION_NOT_CONNECTED (-1L)
#define AERON_PUBLICATION_BACK_PRESSURED (-2L)
#define AERON_PUBLICATION_ADMIN_ACTION (-3L)
#define AERON_PUBLICATION_CLOSED (-4L)
#define AERON_PUBLICATION_MAX_POSITION_EXCEEDED (-5L)
#define AERON_PUBLICATION_ERROR (-6L)

typedef void (*aeron_notification_t)(void *clientd);
typedef void (*aeron_on_available_image_t)(void *clientd, aeron_subscription_t *subscription, aeron_image_t *image);
typedef void (*aeron_on_unavailable_image_t)(void *clientd, aeron_subscription_t *subscription, aeron_image_t *image);
typedef int64_t (*aeron_reserved_value_supplier_t)(void *clientd, uint8_t *buffer, size_t frame_length);
typedef void (*aeron_fragment_handler_t)(void *clientd, const uint8_t *buffer, size_t length, aeron_header_t *header);
typedef void (*aeron_log_func_t)(const char *);
typedef void (*aeron_error_handler_t)(void *clientd, int errcode, const char *message);

int aeron_context_init(aeron_context_t **context);
int aeron_context_close(aeron_context_t *context);
int aeron_context_set_dir(aeron_context_t *context, const char *value);
int aeron_context_set_driver_timeout_ms(aeron_context_t *context, uint64_t value);
int aeron_context_set_client_name(aeron_context_t *context, const char *value);
int aeron_context_set_error_handler(aeron_context_t *context, aeron_error_handler_t handler, void *clientd);
int aeron_init(aeron_t **client, aeron_context_t *context);
int aeron_start(aeron_t *client);
int aeron_close(aeron_t *client);
bool aeron_is_closed(aeron_t *client);
bool aeron_is_driver_active(const char *dirname, int64_t timeout_ms, aeron_log_func_t log_func);
int aeron_errcode(void);
const char *aeron_errmsg(void);
int64_t aeron_nano_clock(void);

int aeron_async_add_publication(
    aeron_async_add_publication_t **async, aeron_t *client, const char *uri, int32_t stream_id);
int aeron_async_add_publication_poll(aeron_publication_t **publication, aeron_async_add_publication_t *async);
int aeron_async_add_exclusive_publication(
    aeron_async_add_exclusive_publication_t **async, aeron_t *client, const char *uri, int32_t stream_id);
int aeron_async_add_exclusive_publication_poll(
    aeron_exclusive_publication_t **publication, aeron_async_add_exclusive_publication_t *async);
int aeron_async_add_subscription(
    aeron_async_add_subscription_t **async, aeron_t *client, const char *uri, int32_t stream_id,
    aeron_on_available_image_t on_available_image_handler, void *on_available_image_clientd,
    aeron_on_unavailable_image_t on_unavailable_image_handler, void *on_unavailable_image_clientd);
int aeron_async_add_subscription_poll(aeron_subscription_t **subscription, aeron_async_add_subscription_t *async);

int64_t aeron_publication_offer(aeron_publication_t *publication, const uint8_t *buffer, size_t length,
    aeron_reserved_value_supplier_t reserved_value_supplier, void *clientd);
int64_t aeron_publication_try_claim(aeron_publication_t *publication, size_t length, aeron_buffer_claim_t *buffer_claim);
bool aeron_publication_is_connected(aeron_publication_t *publication);
int32_t aeron_publication_session_id(aeron_publication_t *publication);
int aeron_publication_close(aeron_publication_t *publication, aeron_notification_t on_close_complete, void *clientd);
int64_t aeron_exclusive_publication_offer(aeron_exclusive_publication_t *publication, const uint8_t *buffer,
    size_t length, aeron_reserved_value_supplier_t reserved_value_supplier, void *clientd);
int64_t aeron_exclusive_publication_try_claim(
    aeron_exclusive_publication_t *publication, size_t length, aeron_buffer_claim_t *buffer_claim);
bool aeron_exclusive_publication_is_connected(aeron_exclusive_publication_t *publication);
int aeron_exclusive_publication_close(
    aeron_exclusive_publication_t *publication, aeron_notification_t on_close_complete, void *clientd);
int aeron_buffer_claim_commit(aeron_buffer_claim_t *buffer_claim);
int aeron_buffer_claim_abort(aeron_buffer_claim_t *buffer_claim);

int aeron_subscription_poll(
    aeron_subscription_t *subscription, aeron_fragment_handler_t handler, void *clientd, size_t fragment_limit);
int aeron_subscription_image_count(aeron_subscription_t *subscription);
bool aeron_subscription_is_connected(aeron_subscription_t *subscription);
int aeron_subscription_close(aeron_subscription_t *subscription, aeron_notification_t on_close_complete, void *clientd);
int aeron_image_constants(aeron_image_t *image, aeron_image_constants_t *constants);
int aeron_header_values(aeron_header_t *header, aeron_header_values_t *values);

int aeron_fragment_assembler_create(
    aeron_fragment_assembler_t **assembler, aeron_fragment_handler_t delegate, void *delegate_clientd);
int aeron_fragment_assembler_delete(aeron_fragment_assembler_t *assembler);
void aeron_fragment_assembler_handler(void *clientd, const uint8_t *buffer, size_t length, aeron_header_t *header);

/* ---- tickwire: image events, one producer (the client conductor thread), one consumer (the owner) ---- */

#define TW_IMAGE_RING 256            /* power of two */
#define TW_SOURCE_LEN 64

typedef struct tw_image_event_stct
{
    int32_t kind;                    /* 1 available, 2 unavailable */
    int32_t session_id;
    char source[TW_SOURCE_LEN];      /* NUL-terminated, cut to 63 bytes */
}
tw_image_event_t;

typedef struct tw_image_ring_stct
{
    uint64_t head;                   /* next to read (consumer) */
    char pad0[56];
    uint64_t tail;                   /* next to write (producer) */
    uint64_t dropped;                /* events lost to a full ring (producer) */
    int64_t images;                  /* available - unavailable so far (producer) */
    char pad1[40];
    tw_image_event_t ev[TW_IMAGE_RING];
}
tw_image_ring_t;

static inline void tw_ring_push(tw_image_ring_t *r, int32_t kind, aeron_image_t *image)
{
    aeron_image_constants_t c;
    uint64_t tail = r->tail;
    if (tail - __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) >= TW_IMAGE_RING)
    {
        __atomic_store_n(&r->dropped, r->dropped + 1, __ATOMIC_RELAXED);
    }
    else
    {
        tw_image_event_t *e = &r->ev[tail & (TW_IMAGE_RING - 1)];
        e->kind = kind;
        e->session_id = 0;
        e->source[0] = '\0';
        if (aeron_image_constants(image, &c) == 0)
        {
            e->session_id = c.session_id;
            if (c.source_identity != NULL)
            {
                strncpy(e->source, c.source_identity, TW_SOURCE_LEN - 1);
                e->source[TW_SOURCE_LEN - 1] = '\0';
            }
        }
        __atomic_store_n(&r->tail, tail + 1, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&r->images, r->images + (kind == 1 ? 1 : -1), __ATOMIC_RELAXED);
}

static void tw_on_available_image(void *clientd, aeron_subscription_t *subscription, aeron_image_t *image)
{
    (void)subscription;
    tw_ring_push((tw_image_ring_t *)clientd, 1, image);
}

static void tw_on_unavailable_image(void *clientd, aeron_subscription_t *subscription, aeron_image_t *image)
{
    (void)subscription;
    tw_ring_push((tw_image_ring_t *)clientd, 2, image);
}

/* Pops one event into *out: 1 when there was one, 0 when the ring is empty. */
static inline int tw_ring_pop(tw_image_ring_t *r, tw_image_event_t *out)
{
    uint64_t head = r->head;
    if (head == __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE))
    {
        return 0;
    }
    memcpy(out, &r->ev[head & (TW_IMAGE_RING - 1)], sizeof(*out));
    __atomic_store_n(&r->head, head + 1, __ATOMIC_RELEASE);
    return 1;
}

static inline uint64_t tw_ring_dropped(tw_image_ring_t *r) { return __atomic_load_n(&r->dropped, __ATOMIC_RELAXED); }

static void tw_quiet_log(const char *line) { (void)line; }

/* Errors of the client conductor thread (driver timeout, ...). Aeron's default handler prints and calls
 * exit(): this one records the error (the owner reads it) and lets the process live. */
typedef struct tw_client_errors_stct
{
    uint64_t count;
    int32_t last_code;
    char last[256];
}
tw_client_errors_t;

static void tw_on_client_error(void *clientd, int errcode, const char *message)
{
    tw_client_errors_t *e = (tw_client_errors_t *)clientd;
    e->last_code = errcode;
    strncpy(e->last, message != NULL ? message : "", sizeof(e->last) - 1);
    e->last[sizeof(e->last) - 1] = '\0';
    __atomic_store_n(&e->count, e->count + 1, __ATOMIC_RELEASE);
}

static inline uint64_t tw_errors_count(tw_client_errors_t *e) { return __atomic_load_n(&e->count, __ATOMIC_ACQUIRE); }

/* One spin-wait hint to the CPU (busy-spin and backoff idle strategies). */
static inline void tw_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
