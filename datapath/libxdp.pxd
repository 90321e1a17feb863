# cython: language_level=3
"""C declarations of libxdp 1.3 (``<xdp/xsk.h>``, ``<xdp/libxdp.h>``) and the libbpf calls AF_XDP needs.

One module per C library family: the AF_XDP socket API (UMEM, fill/completion/RX/TX rings), XDP
program loading/attaching, BPF map access and the libraries' log hooks. The ring accessors are
inline functions of the header, so the hot path compiles to loads/stores on the shared rings.
Link flags: ``pkg-config --libs libxdp libbpf`` (setup.py EXTRA).
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

# ---------------------------------------------------------------- if_xdp ----
cdef extern from "<linux/if_xdp.h>" nogil:
    struct xdp_desc:
        uint64_t addr
        uint32_t len
        uint32_t options
    struct xdp_statistics:
        uint64_t rx_dropped
        uint64_t rx_invalid_descs
        uint64_t tx_invalid_descs
        uint64_t rx_ring_full
        uint64_t rx_fill_ring_empty_descs
        uint64_t tx_ring_empty_descs
    struct xdp_options:
        uint32_t flags
    enum:
        XDP_COPY
        XDP_ZEROCOPY
        XDP_USE_NEED_WAKEUP
        XDP_STATISTICS
        XDP_OPTIONS
        XDP_OPTIONS_ZEROCOPY

cdef extern from "<linux/if_link.h>" nogil:
    enum:
        XDP_FLAGS_UPDATE_IF_NOEXIST
        XDP_FLAGS_SKB_MODE
        XDP_FLAGS_DRV_MODE

cdef extern from "<sys/socket.h>" nogil:
    enum:
        SOL_XDP

# ------------------------------------------------------------- xsk rings ----
cdef extern from "<xdp/xsk.h>" nogil:
    struct xsk_ring_prod:
        uint32_t cached_prod
        uint32_t cached_cons
        uint32_t mask
        uint32_t size
        uint32_t *producer
        uint32_t *consumer
        void *ring
        uint32_t *flags
    struct xsk_ring_cons:
        uint32_t cached_prod
        uint32_t cached_cons
        uint32_t mask
        uint32_t size
        uint32_t *producer
        uint32_t *consumer
        void *ring
        uint32_t *flags
    struct xsk_umem
    struct xsk_socket
    struct xsk_umem_config:
        uint32_t fill_size
        uint32_t comp_size
        uint32_t frame_size
        uint32_t frame_headroom
        uint32_t flags
    struct xsk_socket_config:
        uint32_t rx_size
        uint32_t tx_size
        uint32_t libxdp_flags
        uint32_t xdp_flags
        uint16_t bind_flags
    enum:
        XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD
        XSK_RING_CONS__DEFAULT_NUM_DESCS
        XSK_RING_PROD__DEFAULT_NUM_DESCS

    # ring accessors (inline in the header)
    uint64_t *xsk_ring_prod__fill_addr(xsk_ring_prod *fill, uint32_t idx)
    const xdp_desc *xsk_ring_cons__rx_desc(const xsk_ring_cons *rx, uint32_t idx)
    int xsk_ring_prod__needs_wakeup(const xsk_ring_prod *r)
    uint32_t xsk_ring_prod__reserve(xsk_ring_prod *prod, uint32_t nb, uint32_t *idx)
    void xsk_ring_prod__submit(xsk_ring_prod *prod, uint32_t nb)
    uint32_t xsk_ring_cons__peek(xsk_ring_cons *cons, uint32_t nb, uint32_t *idx)
    void xsk_ring_cons__release(xsk_ring_cons *cons, uint32_t nb)
    void *xsk_umem__get_data(void *umem_area, uint64_t addr)
    uint64_t xsk_umem__extract_addr(uint64_t addr)

    # set-up
    int xsk_umem__create(xsk_umem **umem, void *umem_area, uint64_t size, xsk_ring_prod *fill,
                         xsk_ring_cons *comp, const xsk_umem_config *config)
    int xsk_socket__create(xsk_socket **xsk, const char *ifname, uint32_t queue_id, xsk_umem *umem,
                           xsk_ring_cons *rx, xsk_ring_prod *tx, const xsk_socket_config *config)
    int xsk_socket__update_xskmap(xsk_socket *xsk, int xsks_map_fd)
    int xsk_socket__fd(const xsk_socket *xsk)
    int xsk_umem__delete(xsk_umem *umem)
    void xsk_socket__delete(xsk_socket *xsk)

# ----------------------------------------------------------- XDP programs ----
cdef extern from "<xdp/libxdp.h>" nogil:
    struct xdp_program
    struct bpf_object
    enum xdp_attach_mode:
        XDP_MODE_UNSPEC
        XDP_MODE_NATIVE
        XDP_MODE_SKB
        XDP_MODE_HW
    long libxdp_get_error(const void *ptr)
    int libxdp_strerror(int err, char *buf, size_t size)
    xdp_program *xdp_program__open_file(const char *filename, const char *section_name, void *opts)
    int xdp_program__attach(xdp_program *prog, int ifindex, xdp_attach_mode mode, unsigned int flags)
    int xdp_program__detach(xdp_program *prog, int ifindex, xdp_attach_mode mode, unsigned int flags)
    void xdp_program__close(xdp_program *prog)
    bpf_object *xdp_program__bpf_obj(xdp_program *prog)
    int xdp_program__fd(const xdp_program *prog)
    xdp_attach_mode xdp_program__is_attached(const xdp_program *prog, int ifindex)
    const char *xdp_program__name(const xdp_program *prog)
    # what is attached to an interface (legacy single program or libxdp's dispatcher + components)
    struct xdp_multiprog
    xdp_multiprog *xdp_multiprog__get_from_ifindex(int ifindex)
    xdp_program *xdp_multiprog__next_prog(const xdp_program *prog, const xdp_multiprog *mp)
    xdp_program *xdp_multiprog__main_prog(const xdp_multiprog *mp)
    bint xdp_multiprog__is_legacy(const xdp_multiprog *mp)
    xdp_attach_mode xdp_multiprog__attach_mode(const xdp_multiprog *mp)
    int xdp_multiprog__detach(xdp_multiprog *mp)
    void xdp_multiprog__close(xdp_multiprog *mp)

# ------------------------------------------------------------------ libbpf ----
cdef extern from "<bpf/libbpf.h>" nogil:
    int bpf_object__find_map_fd_by_name(const bpf_object *obj, const char *name)
    int libbpf_num_possible_cpus()

cdef extern from "<bpf/bpf.h>" nogil:
    int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)
    int bpf_map_lookup_elem(int fd, const void *key, void *value)

# ------------------------------------------------------------ log capture ----
# libxdp/libbpf print warnings to stderr by default; we keep the last ones instead and put them in
# the error message of a failed open, where the user sees them next to the error code.
cdef extern from *:
    """
    #include <stdarg.h>
    #include <stdio.h>
    #include <string.h>
    #include <xdp/libxdp.h>
    #include <bpf/libbpf.h>
    static char tw_xdp_log[1024];
    static void tw_xdp_log_add(const char *fmt, va_list ap) {
        char line[512];
        size_t n, used;
        vsnprintf(line, sizeof(line), fmt, ap);
        n = strlen(line);
        while (n && (line[n - 1] == '\\n' || line[n - 1] == ' ')) line[--n] = 0;
        if (!n) return;
        used = strlen(tw_xdp_log);
        if (used + n + 4 >= sizeof(tw_xdp_log)) { memmove(tw_xdp_log, tw_xdp_log + used / 2, used - used / 2 + 1); used = strlen(tw_xdp_log); }
        if (used) strcat(tw_xdp_log, " | ");
        strncat(tw_xdp_log, line, sizeof(tw_xdp_log) - strlen(tw_xdp_log) - 1);
    }
    static int tw_libxdp_print(enum libxdp_print_level level, const char *fmt, va_list ap) {
        if (level == LIBXDP_WARN) tw_xdp_log_add(fmt, ap);
        return 0;
    }
    static int tw_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap) {
        if (level == LIBBPF_WARN) tw_xdp_log_add(fmt, ap);
        return 0;
    }
    static void tw_xdp_capture_logs(void) { libxdp_set_print(tw_libxdp_print); libbpf_set_print(tw_libbpf_print); }
    static void tw_xdp_log_clear(void) { tw_xdp_log[0] = 0; }
    static const char *tw_xdp_log_get(void) { return tw_xdp_log; }
    """
    void tw_xdp_capture_logs() nogil
    void tw_xdp_log_clear() nogil
    const char *tw_xdp_log_get() nogil
