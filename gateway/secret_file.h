/* secret_file: the one rule for files that hold a secret (the MQTT password, a TLS private key,
 * a DTU's registration secret), and reading a one-line secret under it. */
#ifndef CARETAKER_SECRET_FILE_H
#define CARETAKER_SECRET_FILE_H

#include <stddef.h>

#include "diag.h"

/* Opens path read-only for a secret named by key (the config key, "mqtt.password_file").
 * Refused, with a message naming key, path and mode: a file that is not regular, one any
 * other user may read or write, and one whose group may read or write it unless that group
 * is the daemon's own (root:caretaker 0640 is the packaged layout). Returns the open fd
 * (close-on-exec), checked on the open file itself so a rename between check and read
 * changes nothing, or -1. */
int secret_file_open(const char *key, const char *path, struct diag *err);

/* Reads the one-line secret in path, opened by secret_file_open: 1..max bytes after its
 * trailing CR/LF are cut, no NUL byte. On success *out is a NUL-terminated heap copy of
 * max + 1 bytes and *len its length; free it with secret_free. The secret itself never
 * enters an error. */
int secret_file_read(const char *key, const char *path, size_t max, char **out, size_t *len, struct diag *err);

/* Wipes and frees a secret_file_read buffer of the same max; NULL is fine. */
void secret_free(char *secret, size_t max);

#endif
