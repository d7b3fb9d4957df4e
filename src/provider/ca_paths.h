/* Where the libcurl transport finds the certificate authorities that verify
 * TLS peers. Decided by the library, never left to the CA path compiled
 * into whichever libcurl/OpenSSL it is linked with: a wheel's static
 * libcurl has none, and a grafted one carries its build host's. */
#ifndef CF_CA_PATHS_H
#define CF_CA_PATHS_H

#define CF_CA_PATH_MAX 4096

typedef struct cf_ca_paths {
  char file[CF_CA_PATH_MAX]; /* PEM bundle for CURLOPT_CAINFO; "" for none */
  char dir[CF_CA_PATH_MAX];  /* hashed directory (list) for CURLOPT_CAPATH; "" for none */
  const char *origin;        /* static: what chose them, e.g. "SSL_CERT_FILE" */
  char error[200];           /* why none could be used; "" when file or dir is set */
} cf_ca_paths;

/* Fills out from the environment and the file system, in this order:
 * SSL_CERT_FILE and/or SSL_CERT_DIR (OpenSSL's convention), else
 * CURL_CA_BUNDLE, else the first of the distributions' bundles that
 * exists, else /etc/ssl/certs when it holds hashed certificates. A
 * variable that is set but names nothing usable is an error, not a reason
 * to look elsewhere. CONFIDENCE_TEST_CA_ROOT, for tests only, is put in
 * front of every built-in path. Reads the environment: call it where no
 * other thread changes it (provider creation, a pthread_once). */
void cf_ca_paths_find(cf_ca_paths *out);

#endif
