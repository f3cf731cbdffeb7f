/*
 * Test certificates made at run time with libcrypto (header only: the TLS tests and
 * the TLS benchmark share it), so that no key or certificate lives in the tree.
 *
 * tlscert_make(dir) writes into the existing directory dir, all PEM, EC P-256 keys:
 *   ca.pem                 a CA ("shmrt test CA"), self-signed
 *   server.pem, server.key a server certificate the CA signs, for DNS:localhost and
 *                          IP:127.0.0.1, and its key
 *   client.pem, client.key a client certificate the CA signs, and its key
 *   other-ca.pem           another CA
 *   other-client.pem/.key  a client certificate the other CA signs, and its key
 *   wrong.key              a key of no certificate
 * Certificates are valid from an hour ago for a day. Returns 0, or -1 if libcrypto
 * or a write failed.
 */
#ifndef SHMRT_TESTS_TLSCERT_H
#define SHMRT_TESTS_TLSCERT_H

#include <stdio.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static inline int tlscert_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v;
	X509V3_set_ctx_nodb(&v);
	X509V3_set_ctx(&v, issuer, x, NULL, NULL, 0);
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v, nid, value);
	int ok = e && X509_add_ext(x, e, -1) == 1;
	X509_EXTENSION_free(e);
	return ok ? 0 : -1;
}

/* A certificate for key named cn, signed by issuer (NULL: self-signed, a CA), with
 * the subjectAltName san (NULL: none). NULL on failure. */
static inline X509 *tlscert_cert(EVP_PKEY *key, const char *cn, X509 *issuer,
				 EVP_PKEY *issuer_key, const char *san)
{
	static long serial = 1;
	X509 *x = X509_new();
	if (!x)
		return NULL;
	X509_NAME *n = X509_get_subject_name(x);
	X509 *is = issuer ? issuer : x;
	int ok = X509_set_version(x, 2) == 1 &&
		 ASN1_INTEGER_set(X509_get_serialNumber(x), serial++) == 1 &&
		 X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
		 X509_gmtime_adj(X509_getm_notAfter(x), 86400) && X509_set_pubkey(x, key) == 1 &&
		 X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1,
					    -1, 0) == 1 &&
		 X509_set_issuer_name(x, X509_get_subject_name(is)) == 1 &&
		 tlscert_ext(x, is, NID_subject_key_identifier, "hash") == 0;
	if (ok && !issuer)
		ok = tlscert_ext(x, x, NID_basic_constraints, "critical,CA:TRUE") == 0 &&
		     tlscert_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") == 0;
	if (ok && issuer)
		ok = tlscert_ext(x, issuer, NID_basic_constraints, "CA:FALSE") == 0 &&
		     tlscert_ext(x, issuer, NID_authority_key_identifier, "keyid") == 0 &&
		     (!san || tlscert_ext(x, issuer, NID_subject_alt_name, san) == 0);
	if (ok)
		ok = X509_sign(x, issuer ? issuer_key : key, EVP_sha256()) > 0;
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static inline int tlscert_write(const char *dir, const char *name, X509 *x, EVP_PKEY *k)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	if (!f)
		return -1;
	int ok = x ? PEM_write_X509(f, x) == 1
		   : PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static inline int tlscert_make(const char *dir)
{
	EVP_PKEY *k[6];
	X509 *x[5] = { NULL };
	int rc = -1;
	for (int i = 0; i < 6; i++)
		k[i] = EVP_EC_gen("P-256");
	/* k: 0 CA, 1 server, 2 wrong, 3 other CA, 4 client, 5 other client */
	for (int i = 0; i < 6; i++)
		if (!k[i])
			goto out;
	x[0] = tlscert_cert(k[0], "shmrt test CA", NULL, NULL, NULL);
	x[1] = tlscert_cert(k[3], "shmrt other CA", NULL, NULL, NULL);
	if (!x[0] || !x[1])
		goto out;
	x[2] = tlscert_cert(k[1], "localhost", x[0], k[0], "DNS:localhost,IP:127.0.0.1");
	x[3] = tlscert_cert(k[4], "client", x[0], k[0], NULL);
	x[4] = tlscert_cert(k[5], "other client", x[1], k[3], NULL);
	if (!x[2] || !x[3] || !x[4])
		goto out;
	if (tlscert_write(dir, "ca.pem", x[0], NULL) || tlscert_write(dir, "other-ca.pem", x[1], NULL) ||
	    tlscert_write(dir, "server.pem", x[2], NULL) ||
	    tlscert_write(dir, "client.pem", x[3], NULL) ||
	    tlscert_write(dir, "other-client.pem", x[4], NULL) ||
	    tlscert_write(dir, "server.key", NULL, k[1]) ||
	    tlscert_write(dir, "wrong.key", NULL, k[2]) ||
	    tlscert_write(dir, "client.key", NULL, k[4]) ||
	    tlscert_write(dir, "other-client.key", NULL, k[5]))
		goto out;
	rc = 0;
out:
	for (int i = 0; i < 5; i++)
		X509_free(x[i]);
	for (int i = 0; i < 6; i++)
		EVP_PKEY_free(k[i]);
	return rc;
}

#endif /* SHMRT_TESTS_TLSCERT_H */
