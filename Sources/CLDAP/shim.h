// CLDAP: the parts of OpenLDAP's libldap (2.5, reentrant, one library) that LDAPDirectory uses.
//
// Swift imports plain functions and integer macros from <ldap.h> directly. This header adds small
// inline helpers for what it cannot import or cannot call comfortably:
//  - macros that expand to casts or pointers (LDAP_SASL_SIMPLE, LDAP_OPT_ON/OFF, LDAP_SCOPE_*),
//  - ldap_set_option, whose `const void *` argument means "pointer to int", "pointer to timeval",
//    "C string" or "on/off marker" depending on the option,
//  - struct berval / struct timeval construction.
// Every helper operates on one LDAP handle; the caller guarantees that a handle is used by one
// thread at a time (libldap's handles are not safe for concurrent use of a single handle).
#ifndef CLDAP_SHIM_H
#define CLDAP_SHIM_H

#include <ldap.h>
#include <lber.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/time.h>

// Search scopes (the <ldap.h> macros are casts, which Swift does not import).
enum {
    CLDAP_SCOPE_BASE = 0x0000,
    CLDAP_SCOPE_ONELEVEL = 0x0001,
    CLDAP_SCOPE_SUBTREE = 0x0002,
};

static inline int cldap_set_int_option(LDAP *ld, int option, int value) {
    return ldap_set_option(ld, option, &value);
}

static inline int cldap_set_bool_option(LDAP *ld, int option, int on) {
    return ldap_set_option(ld, option, on ? LDAP_OPT_ON : LDAP_OPT_OFF);
}

static inline int cldap_set_timeout_option(LDAP *ld, int option, long seconds, long microseconds) {
    struct timeval tv;
    tv.tv_sec = seconds;
    tv.tv_usec = microseconds;
    return ldap_set_option(ld, option, &tv);
}

static inline int cldap_set_string_option(LDAP *ld, int option, const char *value) {
    return ldap_set_option(ld, option, value);
}

// Builds the handle's own TLS client context from the TLS options set on the handle so far. Without
// it, libldap would use (and lazily create) the process-global context, ignoring per-handle options.
static inline int cldap_new_tls_client_context(LDAP *ld) {
    int is_server = 0;
    return ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &is_server);
}

// Simple bind (RFC 4513 5.1). `password` need not be NUL-terminated; `length` bytes are sent.
static inline int cldap_simple_bind(LDAP *ld, const char *dn, const char *password, size_t length) {
    struct berval credentials;
    credentials.bv_val = (char *)password;
    credentials.bv_len = (ber_len_t)length;
    return ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &credentials, NULL, NULL, NULL);
}

// Synchronous search with a client-side wait limit and a server-side time and size limit.
static inline int cldap_search(
    LDAP *ld, const char *base, int scope, const char *filter, char **attributes,
    long timeoutSeconds, long timeoutMicroseconds, int sizeLimit, LDAPMessage **result
) {
    struct timeval tv;
    tv.tv_sec = timeoutSeconds;
    tv.tv_usec = timeoutMicroseconds;
    return ldap_search_ext_s(ld, base, scope, filter, attributes, 0, NULL, NULL, &tv, sizeLimit, result);
}

// The handle's last result code (LDAP_OPT_RESULT_CODE), or LDAP_OTHER if it cannot be read.
static inline int cldap_last_result_code(LDAP *ld) {
    int code = LDAP_OTHER;
    if (ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &code) != LDAP_OPT_SUCCESS) {
        return LDAP_OTHER;
    }
    return code;
}

// The handle's diagnostic message (server text or, for TLS failures, the TLS library's reason),
// or NULL. Free a non-NULL result with ldap_memfree.
static inline char *cldap_diagnostic_message(LDAP *ld) {
    char *message = NULL;
    if (ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &message) != LDAP_OPT_SUCCESS) {
        return NULL;
    }
    return message;
}

// MARK: - Bounding the TLS handshake (GnuTLS builds of libldap)
//
// libldap 2.5 with GnuTLS (Debian's build) does not honour LDAP_OPT_NETWORK_TIMEOUT during the TLS
// handshake: against a server that accepts TCP but never answers, gnutls_handshake() retries the
// non-blocking read in a tight loop forever (100 % CPU, `ldapsearch -o nettimeout=1` shows the same).
// libldap replaces GnuTLS's pull function but installs no pull-timeout function, and sets no
// handshake timeout. The TLS connect callback below, which libldap calls after creating the session
// and before the handshake, installs both: a handshake timeout and a pull-timeout function that
// polls the connection's socket. GnuTLS then fails the handshake with "The operation timed out".
//
// It relies on two facts about libldap's GnuTLS glue (tls_g.c, unchanged from 2.4 to 2.6): the
// callback's `ssl` argument points to a struct whose first member is the gnutls_session_t, and the
// handshake runs on the thread that ran the callback. The GnuTLS functions are looked up at run time
// (libldap already loaded libgnutls), so no GnuTLS headers or link flags are needed; with an OpenSSL
// build of libldap nothing is installed.

typedef int (*cldap_gnutls_pull_timeout_func)(void *transport, unsigned int ms);
typedef void (*cldap_gnutls_set_pull_timeout_function)(void *session, cldap_gnutls_pull_timeout_func func);
typedef void (*cldap_gnutls_handshake_set_timeout)(void *session, unsigned int ms);
typedef void *(*cldap_gnutls_transport_get_ptr)(void *session);

// The socket and GnuTLS transport pointer of the handshake running on this thread.
static __thread int cldap_handshake_fd = -1;
static __thread void *cldap_handshake_transport = NULL;

static inline int cldap_handshake_pull_timeout(void *transport, unsigned int ms) {
    if (transport != cldap_handshake_transport || cldap_handshake_fd < 0) {
        // Not the handshake set up on this thread: report "readable" and let the read decide.
        return 1;
    }
    struct pollfd descriptor;
    descriptor.fd = cldap_handshake_fd;
    descriptor.events = POLLIN;
    descriptor.revents = 0;
    int timeout = ms > (unsigned int)INT_MAX ? -1 : (int)ms;
    int rc;
    do {
        rc = poll(&descriptor, 1, timeout);
    } while (rc < 0 && errno == EINTR);
    return rc;
}

static inline void cldap_tls_connect_callback(LDAP *ld, void *ssl, void *ctx, void *arg) {
    (void)ctx;
    unsigned int milliseconds = (unsigned int)(uintptr_t)arg;
    if (ssl == NULL || milliseconds == 0) {
        return;
    }
    void *program = dlopen(NULL, RTLD_LAZY);
    if (program == NULL) {
        return;
    }
    cldap_gnutls_set_pull_timeout_function set_pull_timeout =
        (cldap_gnutls_set_pull_timeout_function)dlsym(program, "gnutls_transport_set_pull_timeout_function");
    cldap_gnutls_handshake_set_timeout set_handshake_timeout =
        (cldap_gnutls_handshake_set_timeout)dlsym(program, "gnutls_handshake_set_timeout");
    cldap_gnutls_transport_get_ptr get_transport =
        (cldap_gnutls_transport_get_ptr)dlsym(program, "gnutls_transport_get_ptr");
    dlclose(program);
    int fd = -1;
    if (set_pull_timeout == NULL || set_handshake_timeout == NULL || get_transport == NULL
        || ldap_get_option(ld, LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS || fd < 0) {
        return;
    }
    void *session = *(void **)ssl;
    cldap_handshake_fd = fd;
    cldap_handshake_transport = get_transport(session);
    set_pull_timeout(session, cldap_handshake_pull_timeout);
    set_handshake_timeout(session, milliseconds);
}

// Whether this libldap was built with GnuTLS (the only TLS library the workaround applies to).
static inline int cldap_tls_package_is_gnutls(LDAP *ld) {
    char *package = NULL;
    if (ldap_get_option(ld, LDAP_OPT_X_TLS_PACKAGE, &package) != LDAP_OPT_SUCCESS || package == NULL) {
        return 0;
    }
    int gnutls = strcmp(package, "GnuTLS") == 0;
    ldap_memfree(package);
    return gnutls;
}

// Installs the handshake bound on `ld` (call before the connection is opened). Returns 1 when
// installed, 0 when not applicable (not GnuTLS), -1 on failure.
static inline int cldap_bound_tls_handshake(LDAP *ld, unsigned int milliseconds) {
    if (!cldap_tls_package_is_gnutls(ld)) {
        return 0;
    }
    if (ldap_set_option(ld, LDAP_OPT_X_TLS_CONNECT_CB, (void *)cldap_tls_connect_callback) != LDAP_OPT_SUCCESS
        || ldap_set_option(ld, LDAP_OPT_X_TLS_CONNECT_ARG, (void *)(uintptr_t)milliseconds) != LDAP_OPT_SUCCESS) {
        return -1;
    }
    return 1;
}

// Forgets this thread's handshake socket (after the handshake, so a later pull-timeout call for a
// reused descriptor number cannot poll the wrong socket).
static inline void cldap_handshake_finished(void) {
    cldap_handshake_fd = -1;
    cldap_handshake_transport = NULL;
}

#endif
