/* secret_file: the one rule for files that hold a secret (a password, a private key). */
#ifndef CARETAKER_SECRET_FILE_H
#define CARETAKER_SECRET_FILE_H

#include "diag.h"

/* Opens path read-only for a secret named by key (the config key, "mqtt.password_file").
 * Refused, with a message naming key, path and mode: a file that is not regular, one any
 * other user may read or write, and one whose group may read or write it unless that group
 * is the daemon's own (root:caretaker 0640 is the packaged layout). Returns the open fd
 * (close-on-exec), checked on the open file itself so a rename between check and read
 * changes nothing, or -1. */
int secret_file_open(const char *key, const char *path, struct diag *err);

#endif
