/* secret_file: reading a credential (the MQTT password, a DTU's registration secret) from a
 * private file, with one set of rules for every credential the gateway holds. */
#ifndef CARETAKER_SECRET_FILE_H
#define CARETAKER_SECRET_FILE_H

#include <stddef.h>

#include "diag.h"

/* Reads the one-line secret in path: a regular file, not readable by every user, 1..max
 * bytes after its trailing CR/LF are cut, no NUL byte. key names the config key in errors
 * ("mqtt.password_file"). On success *out is a NUL-terminated heap copy of max + 1 bytes and
 * *len its length; free it with secret_free. The secret itself never enters an error. */
int secret_file_read(const char *key, const char *path, size_t max, char **out, size_t *len, struct diag *err);

/* Wipes and frees a secret_file_read buffer of the same max; NULL is fine. */
void secret_free(char *secret, size_t max);

#endif
