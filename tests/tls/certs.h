/*
 * certs.h - the certificates the TLS tests need, made at run time with
 * OpenSSL's API in a fresh temporary directory (no fixed files to expire,
 * no `openssl ca` database): a CA, a server certificate for localhost,
 * 127.0.0.1 and ::1, an expired one, one for another name, a self-signed
 * one, a client certificate, and a second CA nobody trusts.  EC P-256
 * keys, so that making them all takes milliseconds.
 */
#ifndef SOCK_TLS_TEST_CERTS_H
#define SOCK_TLS_TEST_CERTS_H

#define CERT_PATHLEN 128

struct certs {
    char dir[64];
    char ca[CERT_PATHLEN];           /* the trusted CA (certificate only) */
    char server[CERT_PATHLEN], server_key[CERT_PATHLEN];   /* localhost, 127.0.0.1, ::1 */
    char expired[CERT_PATHLEN], expired_key[CERT_PATHLEN]; /* 2019-01-01 .. 2020-01-01 */
    char wrong[CERT_PATHLEN], wrong_key[CERT_PATHLEN];     /* a.test only */
    char self[CERT_PATHLEN], self_key[CERT_PATHLEN];       /* localhost, self-signed */
    char client[CERT_PATHLEN], client_key[CERT_PATHLEN];   /* CN=sock test client */
    char other[CERT_PATHLEN], other_key[CERT_PATHLEN];     /* localhost, by an untrusted CA */
    char both[CERT_PATHLEN];         /* server certificate and key in one file (s_server, socat) */
};

/* Make them all; fails the test (cr_assert) if OpenSSL cannot. */
void certs_make(struct certs *c);
/* Remove the directory and its files. */
void certs_remove(struct certs *c);

#endif
