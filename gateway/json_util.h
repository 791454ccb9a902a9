/* json_util: strict JSON reading for loaders — parse errors at line:column, duplicate keys refused,
 * typed field access whose every error reads "<file>: <json.path>: <value> <what was expected>". */
#ifndef CARETAKER_JSON_UTIL_H
#define CARETAKER_JSON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "diag.h"

/* Largest file a loader reads: configs and profiles are a few kilobytes; anything this big is
 * a wrong path (a log, a database), and refusing it early keeps memory bounded. */
#define JSON_MAX_FILE_BYTES (4 * 1024 * 1024)

/* Where in the document a loader is: the file for messages and the JSON path being read
 * ("buses[0].devices[1].driver"). A loader enters a key or index, reads, and leaves again. */
struct jctx {
    const char *file;
    struct diag *err;
    char path[512];
    size_t len;
};

void json_ctx_init(struct jctx *c, const char *file, struct diag *err);

/* Append ".key" (or "[\"key\"]" when the key is not a plain word) or "[i]" to the path.
 * Return a mark for json_leave, which restores the path as it was. */
size_t json_enter_key(struct jctx *c, const char *key);
size_t json_enter_index(struct jctx *c, int i);
void json_leave(struct jctx *c, size_t mark);

/* Sets the error "<file>: <path>: <message>" (first error wins) and returns -1. */
int json_fail(struct jctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The same for the path extended by key, for errors about one member of the current object. */
int json_fail_key(struct jctx *c, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Reads a whole file into a NUL-terminated buffer (caller frees). Missing, unreadable, not a
 * regular file, empty, or larger than JSON_MAX_FILE_BYTES: NULL with err set, naming the file. */
char *json_read_file(const char *path, size_t *len, struct diag *err);

/* Parses text strictly: not empty, no NUL byte, valid UTF-8, valid JSON with nothing after it
 * ("<file>:<line>:<column>: invalid JSON ..."), and no key twice in one object. Caller frees
 * the tree with cJSON_Delete. */
cJSON *json_parse(const char *text, size_t len, const char *file, struct diag *err);

/* Line and column (1-based; columns count characters, not bytes) of byte offset in text. */
void json_line_col(const char *text, size_t len, size_t offset, int *line, int *col);

/* Writes how an item reads in a message: "\"5000\" is a string", "12.5 is a number",
 * "true is a boolean", "{...} is an object". */
void json_describe(const cJSON *item, char *buf, size_t n);

/* The value alone as it reads in a message: strings quoted and cut at 40 bytes, containers
 * elided ("{...}", "[...]"). */
void json_value_text(const cJSON *item, char *buf, size_t n);

/* The "did you mean" for word among names: same word in another case, a close spelling
 * (diag_closest), two neighbouring letters swapped, or the first name that word begins; NULL when none fits. */
const char *json_suggest(const char *word, const char *const *names, size_t n);

/* Fails with "unknown key" for any member of obj not in allowed[0..n), with a "did you mean"
 * when one is close, else the list of keys the object takes. */
int json_check_keys(struct jctx *c, const cJSON *obj, const char *const *allowed, size_t n);

/* Typed members of obj. Each returns 1 when the key is present and valid, 0 when it is absent
 * (the default is then written, or an error raised when required), -1 on error. */
int json_get_int(struct jctx *c, const cJSON *obj, const char *key, int lo, int hi, int def, bool required, int *out);
int json_get_number(struct jctx *c, const cJSON *obj, const char *key, double def, bool required, double *out);
int json_get_bool(struct jctx *c, const cJSON *obj, const char *key, bool def, bool *out);
/* what: how the expected string is described ("a device path"); the value must fit n bytes
 * with its NUL, and must not be empty. */
int json_get_string(struct jctx *c, const cJSON *obj, const char *key, const char *def, bool required, const char *what,
                    char *out, size_t n);
/* Any string, however long (documentation); *out points into the tree, NULL if absent. */
int json_get_text(struct jctx *c, const cJSON *obj, const char *key, bool required, const char **out);
/* One of names[0..n); *out is the index. noun names the kind of value ("type", "table"). */
int json_get_enum(struct jctx *c, const cJSON *obj, const char *key, const char *const *names, size_t n,
                  const char *noun, int def, bool required, int *out);
/* An object or an array member (type is cJSON_Object or cJSON_Array); *out is NULL if absent. */
int json_get_child(struct jctx *c, const cJSON *obj, const char *key, int type, bool required, const cJSON **out);

/* Fails unless item (at the current path) has the given cJSON type; expected words the message. */
int json_expect_type(struct jctx *c, const cJSON *item, int type, const char *expected);

/* True when s is non-empty, starts with a lowercase letter or digit, and every character is
 * a-z, 0-9, or one of extra. */
bool json_name_ok(const char *s, const char *extra);

/* FNV-1a over n bytes, continuing from h (start from JSON_HASH_SEED): tells whether a file
 * changed since it was loaded. Not a defence against someone choosing the bytes. */
#define JSON_HASH_SEED 0xcbf29ce484222325ULL
uint64_t json_hash(uint64_t h, const void *p, size_t n);

#endif
