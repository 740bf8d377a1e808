/*
 * certs.c - see certs.h.
 */
#include "certs.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct issued {
    X509 *cert;
    EVP_PKEY *key;
};

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    cr_assert(ext, "extension %s", value);
    cr_assert(X509_add_ext(cert, ext, -1));
    X509_EXTENSION_free(ext);
}

/* A certificate for cn with the alternative names san (NULL: none), valid
 * from..until ("YYYYMMDDHHMMSSZ", NULL: from an hour ago for 30 days),
 * signed by issuer (NULL: self-signed). */
static struct issued issue(const char *cn, const char *san, int is_ca, const char *from,
                           const char *until, const struct issued *issuer)
{
    static long serial = 1;
    struct issued out;
    out.key = EVP_EC_gen("P-256");
    cr_assert(out.key);
    out.cert = X509_new();
    X509 *x = out.cert;
    cr_assert(X509_set_version(x, 2));
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++ + (long)getpid() * 100);
    if (from) {
        cr_assert(ASN1_TIME_set_string(X509_getm_notBefore(x), from));
        cr_assert(ASN1_TIME_set_string(X509_getm_notAfter(x), until));
    } else {
        X509_gmtime_adj(X509_getm_notBefore(x), -3600);
        X509_gmtime_adj(X509_getm_notAfter(x), 30L * 86400);
    }
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer->cert) : name);
    X509_set_pubkey(x, out.key);
    X509 *signer = issuer ? issuer->cert : x;
    if (is_ca) {
        add_ext(x, signer, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    } else {
        add_ext(x, signer, NID_basic_constraints, "CA:FALSE");
        add_ext(x, signer, NID_ext_key_usage, "serverAuth,clientAuth");
    }
    add_ext(x, signer, NID_subject_key_identifier, "hash");
    if (san)
        add_ext(x, signer, NID_subject_alt_name, san);
    cr_assert(X509_sign(x, issuer ? issuer->key : out.key, EVP_sha256()));
    return out;
}

static void write_pem(const char *path, const struct issued *it, int with_key)
{
    FILE *f = fopen(path, "w");
    cr_assert(f, "%s", path);
    cr_assert(PEM_write_X509(f, it->cert));
    if (with_key)
        cr_assert(PEM_write_PrivateKey(f, it->key, NULL, NULL, 0, NULL, NULL));
    fclose(f);
}

static void write_pair(struct certs *c, char *cert_path, char *key_path, const char *base,
                       const struct issued *it)
{
    snprintf(cert_path, CERT_PATHLEN, "%s/%s.pem", c->dir, base);
    snprintf(key_path, CERT_PATHLEN, "%s/%s.key", c->dir, base);
    write_pem(cert_path, it, 0);
    FILE *f = fopen(key_path, "w");
    cr_assert(f);
    cr_assert(PEM_write_PrivateKey(f, it->key, NULL, NULL, 0, NULL, NULL));
    fclose(f);
}

static void release(struct issued *it)
{
    X509_free(it->cert);
    EVP_PKEY_free(it->key);
}

void certs_make(struct certs *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->dir, sizeof c->dir, "/tmp/sock-tls-XXXXXX");
    cr_assert(mkdtemp(c->dir));
    const char *local = "DNS:localhost,IP:127.0.0.1,IP:::1";
    struct issued ca = issue("sock test CA", NULL, 1, NULL, NULL, NULL);
    struct issued other_ca = issue("untrusted CA", NULL, 1, NULL, NULL, NULL);
    struct issued server = issue("localhost", local, 0, NULL, NULL, &ca);
    struct issued expired = issue("localhost", local, 0, "20190101000000Z", "20200101000000Z", &ca);
    struct issued wrong = issue("a.test", "DNS:a.test", 0, NULL, NULL, &ca);
    struct issued self = issue("localhost", local, 0, NULL, NULL, NULL);
    struct issued client = issue("sock test client", NULL, 0, NULL, NULL, &ca);
    struct issued other = issue("localhost", local, 0, NULL, NULL, &other_ca);
    snprintf(c->ca, sizeof c->ca, "%s/ca.pem", c->dir);
    write_pem(c->ca, &ca, 0);
    write_pair(c, c->server, c->server_key, "server", &server);
    write_pair(c, c->expired, c->expired_key, "expired", &expired);
    write_pair(c, c->wrong, c->wrong_key, "wrong", &wrong);
    write_pair(c, c->self, c->self_key, "self", &self);
    write_pair(c, c->client, c->client_key, "client", &client);
    write_pair(c, c->other, c->other_key, "other", &other);
    snprintf(c->both, sizeof c->both, "%s/server-both.pem", c->dir);
    write_pem(c->both, &server, 1);
    struct issued *all[] = {&ca, &other_ca, &server, &expired, &wrong, &self, &client, &other};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        release(all[i]);
}

void certs_remove(struct certs *c)
{
    if (!c->dir[0])
        return;
    DIR *d = opendir(c->dir);
    if (d) {
        struct dirent *e;
        char path[400];
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') {
                snprintf(path, sizeof path, "%s/%s", c->dir, e->d_name);
                unlink(path);
            }
        closedir(d);
    }
    rmdir(c->dir);
    c->dir[0] = '\0';
}
