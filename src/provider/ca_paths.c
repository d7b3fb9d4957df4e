/* Finding the trusted CAs for TLS (ca_paths.h): the environment first, then
 * the bundles Linux distributions install, then a hashed directory. */
#define _POSIX_C_SOURCE 200809L /* strtok_r */
#include "ca_paths.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The bundle each family of distributions maintains, most common first;
 * the first that exists wins. */
static const char *const BUNDLES[] = {
    "/etc/ssl/certs/ca-certificates.crt",                /* Debian, Ubuntu, Arch, Gentoo */
    "/etc/pki/tls/certs/ca-bundle.crt",                  /* RHEL, Fedora, Amazon Linux, CentOS */
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", /* the same, where only ca-trust's output is */
    "/etc/ssl/ca-bundle.pem",                            /* SUSE */
    "/etc/ssl/cert.pem",                                 /* Alpine */
};
/* Last resort: OpenSSL's hashed directory, which some images fill without
 * shipping a bundle. Used only when it holds hashed certificates: an empty
 * one (openssl's package leaves it behind) verifies nothing. */
static const char HASHED_DIR[] = "/etc/ssl/certs";

static const char NOTHING_FOUND[] =
    "no CA certificates found for TLS: set SSL_CERT_FILE to a PEM file of trusted CAs "
    "(or SSL_CERT_DIR to a directory prepared with openssl rehash)";

static const char *env(const char *name)
{
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

/* A readable regular file (after symlinks); errno tells why not. */
static bool readable_file(const char *path)
{
  struct stat st;
  if (stat(path, &st) != 0)
    return false;
  if (!S_ISREG(st.st_mode)) {
    errno = EISDIR;
    return false;
  }
  return access(path, R_OK) == 0;
}

static bool is_dir(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* OpenSSL's name for a certificate in a hashed directory: 8 hex digits,
 * a dot, a decimal sequence number ("5a7722fb.0"). */
static bool hashed_name(const char *name)
{
  for (int i = 0; i < 8; i++)
    if (!name[i] || !strchr("0123456789abcdef", name[i]))
      return false;
  if (name[8] != '.' || !name[9])
    return false;
  for (const char *s = name + 9; *s; s++)
    if (*s < '0' || *s > '9')
      return false;
  return true;
}

static bool has_hashed_certs(const char *dir)
{
  DIR *d = opendir(dir);
  if (!d)
    return false;
  bool found = false;
  struct dirent *e;
  while (!found && (e = readdir(d)) != NULL)
    found = hashed_name(e->d_name);
  closedir(d);
  return found;
}

/* OpenSSL takes a colon-separated list of directories: one that exists is
 * enough, as OpenSSL skips the others. */
static bool any_dir(const char *list)
{
  char buf[CF_CA_PATH_MAX], *save = NULL;
  snprintf(buf, sizeof buf, "%s", list);
  for (char *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save))
    if (is_dir(d))
      return true;
  return false;
}

static bool copy_path(char out[CF_CA_PATH_MAX], const char *path)
{
  return (size_t)snprintf(out, CF_CA_PATH_MAX, "%s", path) < CF_CA_PATH_MAX;
}

/* The variables the user set. False with out->error when one is unusable. */
static bool from_environment(cf_ca_paths *out, const char *file_var, const char *file, const char *dir)
{
  if (file) {
    if (!copy_path(out->file, file) || !readable_file(file)) {
      int err = errno;
      out->file[0] = '\0';
      snprintf(out->error, sizeof out->error, "%s=%.80s cannot be used for TLS (%s): set it to a PEM file of trusted CAs",
               file_var, file, strlen(file) >= CF_CA_PATH_MAX ? "path too long" : strerror(err));
      return false;
    }
  }
  if (dir) {
    if (!copy_path(out->dir, dir) || !any_dir(dir)) {
      out->file[0] = out->dir[0] = '\0';
      snprintf(out->error, sizeof out->error,
               "SSL_CERT_DIR=%.80s names no directory: set it to a directory prepared with openssl rehash", dir);
      return false;
    }
  }
  out->origin = file && dir ? (file_var[0] == 'S' ? "SSL_CERT_FILE and SSL_CERT_DIR" : "CURL_CA_BUNDLE and SSL_CERT_DIR")
                : file      ? file_var
                            : "SSL_CERT_DIR";
  return true;
}

void cf_ca_paths_find(cf_ca_paths *out)
{
  memset(out, 0, sizeof *out);
  const char *file = env("SSL_CERT_FILE"), *file_var = "SSL_CERT_FILE", *dir = env("SSL_CERT_DIR");
  if (!file && (file = env("CURL_CA_BUNDLE")) != NULL)
    file_var = "CURL_CA_BUNDLE";
  if (file || dir) {
    from_environment(out, file_var, file, dir);
    return;
  }

  /* Test-only: a fake file system root in front of the built-in paths. */
  const char *root = env("CONFIDENCE_TEST_CA_ROOT");
  if (!root)
    root = "";
  char path[CF_CA_PATH_MAX];
  for (size_t i = 0; i < sizeof BUNDLES / sizeof BUNDLES[0]; i++) {
    if ((size_t)snprintf(path, sizeof path, "%s%s", root, BUNDLES[i]) < sizeof path && readable_file(path)) {
      copy_path(out->file, path);
      out->origin = "the system bundle";
      return;
    }
  }
  if ((size_t)snprintf(path, sizeof path, "%s%s", root, HASHED_DIR) < sizeof path && has_hashed_certs(path)) {
    copy_path(out->dir, path);
    out->origin = "the system's hashed directory";
    return;
  }
  snprintf(out->error, sizeof out->error, "%s", NOTHING_FOUND);
}
