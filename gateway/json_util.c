/* json_util: strict JSON reading shared by the config and profile loaders.
 * Invariant: every error goes through json_fail, so each message starts "<file>: <json.path>: ". */
#include "json_util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

void json_ctx_init(struct jctx *c, const char *file, struct diag *err)
{
    c->file = file;
    c->err = err;
    c->path[0] = '\0';
    c->len = 0;
}

static bool plain_key(const char *key)
{
    if (!*key)
        return false;
    for (const char *s = key; *s; s++) {
        char ch = *s;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '-'))
            return false;
    }
    return true;
}

/* Appends to the path; a path too long for the buffer is cut, which only shortens a message. */
static void path_append(struct jctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void path_append(struct jctx *c, const char *fmt, ...)
{
    if (c->len >= sizeof c->path - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(c->path + c->len, sizeof c->path - c->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        c->path[c->len] = '\0';
    else if ((size_t)n >= sizeof c->path - c->len)
        c->len = sizeof c->path - 1;
    else
        c->len += (size_t)n;
}

size_t json_enter_key(struct jctx *c, const char *key)
{
    size_t mark = c->len;
    if (plain_key(key))
        path_append(c, "%s%s", c->len ? "." : "", key);
    else
        path_append(c, "[\"%.60s\"]", key);
    return mark;
}

size_t json_enter_index(struct jctx *c, int i)
{
    size_t mark = c->len;
    path_append(c, "[%d]", i);
    return mark;
}

void json_leave(struct jctx *c, size_t mark)
{
    if (mark < sizeof c->path) {
        c->len = mark;
        c->path[mark] = '\0';
    }
}

static int vfail(struct jctx *c, const char *fmt, va_list ap)
{
    char msg[768];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (c->len)
        diag_set(c->err, "%s: %s: %s", c->file, c->path, msg);
    else
        diag_set(c->err, "%s: %s", c->file, msg);
    return -1;
}

int json_fail(struct jctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(c, fmt, ap);
    va_end(ap);
    return -1;
}

int json_fail_key(struct jctx *c, const char *key, const char *fmt, ...)
{
    size_t mark = json_enter_key(c, key);
    va_list ap;
    va_start(ap, fmt);
    vfail(c, fmt, ap);
    va_end(ap);
    json_leave(c, mark);
    return -1;
}

char *json_read_file(const char *path, size_t *len, struct diag *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        diag_set(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        diag_set(err, "%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        diag_set(err, "%s: not a regular file", path);
        goto fail;
    }
    if (st.st_size > JSON_MAX_FILE_BYTES) {
        diag_set(err, "%s: %lld bytes is too large (at most %d)", path, (long long)st.st_size, JSON_MAX_FILE_BYTES);
        goto fail;
    }
    /* Read to end of file rather than trust st_size: the file may change while being read. */
    buf = malloc(JSON_MAX_FILE_BYTES + 1);
    if (!buf) {
        diag_set(err, "%s: out of memory", path);
        goto fail;
    }
    size_t n = fread(buf, 1, JSON_MAX_FILE_BYTES + 1, f);
    if (ferror(f)) {
        diag_set(err, "%s: cannot read: %s", path, strerror(errno));
        goto fail;
    }
    if (n > JSON_MAX_FILE_BYTES) {
        diag_set(err, "%s: larger than %d bytes", path, JSON_MAX_FILE_BYTES);
        goto fail;
    }
    if (n == 0) {
        diag_set(err, "%s: file is empty (expected a JSON object)", path);
        goto fail;
    }
    fclose(f);
    char *shrunk = realloc(buf, n + 1);
    if (shrunk)
        buf = shrunk;
    buf[n] = '\0';
    *len = n;
    return buf;
fail:
    free(buf);
    fclose(f);
    return NULL;
}

void json_line_col(const char *text, size_t len, size_t offset, int *line, int *col)
{
    int l = 1, k = 1;
    for (size_t i = 0; i < offset && i < len; i++) {
        unsigned char ch = (unsigned char)text[i];
        if (ch == '\n') {
            l++;
            k = 1;
        } else if ((ch & 0xC0) != 0x80) { /* continuation bytes belong to the previous character */
            k++;
        }
    }
    *line = l;
    *col = k;
}

/* Offset of the first byte that is not valid UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or len when all is valid. */
static size_t utf8_invalid_at(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char b = s[i];
        size_t need;
        uint32_t cp, min;
        if (b < 0x80) {
            i++;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            need = 1, cp = b & 0x1F, min = 0x80;
        } else if ((b & 0xF0) == 0xE0) {
            need = 2, cp = b & 0x0F, min = 0x800;
        } else if ((b & 0xF8) == 0xF0) {
            need = 3, cp = b & 0x07, min = 0x10000;
        } else {
            return i;
        }
        if (len - i <= need)
            return i;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += need + 1;
    }
    return len;
}

/* Copies up to 24 bytes of text at p into buf for a "near" hint, stopping at a line end. */
static void snippet(const char *p, const char *end, char *buf, size_t n)
{
    size_t k = 0;
    while (p < end && *p && *p != '\n' && *p != '\r' && k + 1 < n && k < 24)
        buf[k++] = *p++;
    /* do not cut a UTF-8 sequence in half */
    while (k > 0 && ((unsigned char)buf[k - 1] & 0x80)) {
        size_t start = k - 1;
        while (start > 0 && ((unsigned char)buf[start] & 0xC0) == 0x80)
            start--;
        unsigned char lead = (unsigned char)buf[start];
        size_t want = (lead & 0xE0) == 0xC0 ? 2 : (lead & 0xF0) == 0xE0 ? 3 : (lead & 0xF8) == 0xF0 ? 4 : 1;
        if (k - start >= want)
            break;
        k = start;
    }
    buf[k] = '\0';
}

static int cmp_member_names(const void *a, const void *b)
{
    return strcmp((*(const cJSON *const *)a)->string, (*(const cJSON *const *)b)->string);
}

static int duplicate_key(struct jctx *c, const char *key)
{
    return json_fail_key(c, key,
                         "duplicate key \"%.60s\" (a key may appear once in an object; the later one would "
                         "silently win)",
                         key);
}

/* Pairwise for the small objects of a config; sorted for large ones, so a hostile file with
 * thousands of keys costs n log n, not n squared. */
static int object_duplicates(struct jctx *c, const cJSON *obj)
{
    int n = cJSON_GetArraySize(obj);
    if (n <= 32) {
        for (const cJSON *a = obj->child; a; a = a->next)
            for (const cJSON *b = obj->child; b != a; b = b->next)
                if (strcmp(a->string, b->string) == 0)
                    return duplicate_key(c, a->string);
        return 0;
    }
    const cJSON **v = malloc((size_t)n * sizeof *v);
    if (!v)
        return json_fail(c, "out of memory");
    int i = 0;
    for (const cJSON *a = obj->child; a && i < n; a = a->next)
        v[i++] = a;
    qsort(v, (size_t)i, sizeof *v, cmp_member_names);
    int rc = 0;
    for (int k = 1; k < i && !rc; k++)
        if (strcmp(v[k - 1]->string, v[k]->string) == 0)
            rc = duplicate_key(c, v[k]->string);
    free(v);
    return rc;
}

static int check_duplicates(struct jctx *c, const cJSON *item)
{
    if (cJSON_IsObject(item)) {
        if (object_duplicates(c, item))
            return -1;
        for (const cJSON *a = item->child; a; a = a->next) {
            size_t mark = json_enter_key(c, a->string);
            int rc = check_duplicates(c, a);
            json_leave(c, mark);
            if (rc)
                return rc;
        }
    } else if (cJSON_IsArray(item)) {
        int i = 0;
        for (const cJSON *a = item->child; a; a = a->next, i++) {
            size_t mark = json_enter_index(c, i);
            int rc = check_duplicates(c, a);
            json_leave(c, mark);
            if (rc)
                return rc;
        }
    }
    return 0;
}

cJSON *json_parse(const char *text, size_t len, const char *file, struct diag *err)
{
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
        i++;
    if (i == len) {
        diag_set(err, "%s: file is empty (expected a JSON object)", file);
        return NULL;
    }
    const char *nul = memchr(text, '\0', len);
    int line, col;
    if (nul) {
        json_line_col(text, len, (size_t)(nul - text), &line, &col);
        diag_set(err, "%s:%d:%d: NUL byte in the text (expected UTF-8 JSON)", file, line, col);
        return NULL;
    }
    size_t bad = utf8_invalid_at((const unsigned char *)text, len);
    if (bad < len) {
        json_line_col(text, len, bad, &line, &col);
        diag_set(err, "%s:%d:%d: invalid UTF-8 byte 0x%02X (expected UTF-8 text)", file, line, col,
                 (unsigned char)text[bad]);
        return NULL;
    }
    /* cJSON wants the terminating NUL inside the length to accept the end of the text when
     * it is told to refuse anything after the value. */
    char *copy = malloc(len + 1);
    if (!copy) {
        diag_set(err, "%s: out of memory", file);
        return NULL;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(copy, len + 1, &end, 1);
    if (!root) {
        size_t off = end && end >= copy && end <= copy + len ? (size_t)(end - copy) : len;
        json_line_col(copy, len, off, &line, &col);
        if (off >= len) {
            diag_set(err, "%s:%d:%d: invalid JSON: unexpected end of text", file, line, col);
        } else {
            char near[32];
            snippet(copy + off, copy + len, near, sizeof near);
            diag_set(err, "%s:%d:%d: invalid JSON near \"%s\"", file, line, col, near);
        }
        free(copy);
        return NULL;
    }
    free(copy);
    struct jctx c;
    json_ctx_init(&c, file, err);
    if (check_duplicates(&c, root)) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

void json_value_text(const cJSON *item, char *buf, size_t n)
{
    if (cJSON_IsString(item)) {
        char s[48];
        const char *v = item->valuestring ? item->valuestring : "";
        size_t k = 0;
        for (; v[k] && k < 40; k++)
            s[k] = (unsigned char)v[k] < 0x20 ? '?' : v[k];
        while (k > 0 && v[k] && ((unsigned char)v[k] & 0xC0) == 0x80) /* cut at a character boundary */
            k--;
        s[k] = '\0';
        snprintf(buf, n, "\"%s%s\"", s, v[k] ? "..." : "");
    } else if (cJSON_IsNumber(item)) {
        snprintf(buf, n, "%.15g", item->valuedouble);
    } else if (cJSON_IsBool(item)) {
        snprintf(buf, n, "%s", cJSON_IsTrue(item) ? "true" : "false");
    } else if (cJSON_IsNull(item)) {
        snprintf(buf, n, "null");
    } else if (cJSON_IsObject(item)) {
        snprintf(buf, n, "{...}");
    } else if (cJSON_IsArray(item)) {
        snprintf(buf, n, "[...]");
    } else {
        snprintf(buf, n, "the value");
    }
}

void json_describe(const cJSON *item, char *buf, size_t n)
{
    char v[64];
    json_value_text(item, v, sizeof v);
    const char *noun = cJSON_IsString(item)   ? " is a string"
                       : cJSON_IsNumber(item) ? " is a number"
                       : cJSON_IsBool(item)   ? " is a boolean"
                       : cJSON_IsObject(item) ? " is an object"
                       : cJSON_IsArray(item)  ? " is an array"
                                              : "";
    snprintf(buf, n, "%s%s", v, noun);
}

const char *json_suggest(const char *word, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(word, names[i]) == 0)
            return names[i];
    const char *near = diag_closest(word, names, n);
    if (near || strlen(word) < 3)
        return near;
    /* "hots" for "host": two neighbours swapped, a typing slip that costs two edits */
    size_t lw = strlen(word);
    for (size_t i = 0; i < n; i++) {
        if (strlen(names[i]) != lw)
            continue;
        size_t k = 0;
        while (k < lw && word[k] == names[i][k])
            k++;
        if (k + 1 < lw && word[k] == names[i][k + 1] && word[k + 1] == names[i][k] &&
            strcmp(word + k + 2, names[i] + k + 2) == 0)
            return names[i];
    }
    /* "float" for "float32": a clipped spelling; names come in order of preference, so the
     * first name it begins is the one to suggest */
    for (size_t i = 0; i < n; i++)
        if (strncmp(names[i], word, strlen(word)) == 0)
            return names[i];
    return NULL;
}

/* "a, b, c" into list (size bytes), cut when it does not fit: the choices an error names. */
static void join_names(const char *const *names, size_t n, char *list, size_t size)
{
    size_t used = 0;
    list[0] = '\0';
    for (size_t i = 0; i < n && used < size; i++) {
        int w = snprintf(list + used, size - used, "%s%s", i ? ", " : "", names[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

int json_check_keys(struct jctx *c, const cJSON *obj, const char *const *allowed, size_t n)
{
    for (const cJSON *m = obj->child; m; m = m->next) {
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(m->string, allowed[i]) == 0;
        if (known)
            continue;
        const char *near = json_suggest(m->string, allowed, n);
        if (near)
            return json_fail_key(c, m->string, "unknown key \"%.60s\" (did you mean \"%s\"?)", m->string, near);
        char list[400];
        join_names(allowed, n, list, sizeof list);
        return json_fail_key(c, m->string, "unknown key \"%.60s\" (expected one of %s)", m->string, list);
    }
    return 0;
}

int json_expect_type(struct jctx *c, const cJSON *item, int type, const char *expected)
{
    if ((item->type & 0xFF) == type)
        return 0;
    char d[96];
    json_describe(item, d, sizeof d);
    return json_fail(c, "%s (expected %s)", d, expected);
}

static int missing(struct jctx *c, const char *key, const char *expected)
{
    return json_fail_key(c, key, "missing (expected %s)", expected);
}

int json_get_int(struct jctx *c, const cJSON *obj, const char *key, int lo, int hi, int def, bool required, int *out)
{
    char expected[64];
    snprintf(expected, sizeof expected, "an integer %d..%d", lo, hi);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        if (required)
            return missing(c, key, expected);
        *out = def;
        return 0;
    }
    size_t mark = json_enter_key(c, key);
    int rc = 1;
    char t[96];
    if (!cJSON_IsNumber(v)) {
        json_describe(v, t, sizeof t);
        rc = json_fail(c, "%s (expected %s)", t, expected);
    } else if (!(v->valuedouble >= lo && v->valuedouble <= hi)) {
        json_value_text(v, t, sizeof t);
        rc = json_fail(c, "%s is out of range (expected %s)", t, expected);
    } else if ((double)(int)v->valuedouble != v->valuedouble) {
        json_value_text(v, t, sizeof t);
        rc = json_fail(c, "%s is not an integer (expected %s)", t, expected);
    } else {
        *out = (int)v->valuedouble;
    }
    json_leave(c, mark);
    return rc;
}

int json_get_number(struct jctx *c, const cJSON *obj, const char *key, double def, bool required, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        if (required)
            return missing(c, key, "a number");
        *out = def;
        return 0;
    }
    size_t mark = json_enter_key(c, key);
    int rc = 1;
    char t[96];
    if (!cJSON_IsNumber(v)) {
        json_describe(v, t, sizeof t);
        rc = json_fail(c, "%s (expected a number)", t);
    } else if (!(v->valuedouble >= -1.7976931348623157e308 && v->valuedouble <= 1.7976931348623157e308)) {
        json_value_text(v, t, sizeof t);
        rc = json_fail(c, "%s is not a finite number (expected a finite number)", t);
    } else {
        *out = v->valuedouble;
    }
    json_leave(c, mark);
    return rc;
}

int json_get_text(struct jctx *c, const cJSON *obj, const char *key, bool required, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    if (!v) {
        if (required)
            return missing(c, key, "a string");
        return 0;
    }
    if (!cJSON_IsString(v) || !v->valuestring) {
        char t[96];
        json_describe(v, t, sizeof t);
        return json_fail_key(c, key, "%s (expected a string)", t);
    }
    *out = v->valuestring;
    return 1;
}

int json_get_bool(struct jctx *c, const cJSON *obj, const char *key, bool def, bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsBool(v)) {
        char t[96];
        json_describe(v, t, sizeof t);
        return json_fail_key(c, key, "%s (expected true or false)", t);
    }
    *out = cJSON_IsTrue(v);
    return 1;
}

int json_get_string(struct jctx *c, const cJSON *obj, const char *key, const char *def, bool required, const char *what,
                    char *out, size_t n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        if (required)
            return missing(c, key, what);
        if (def)
            snprintf(out, n, "%s", def);
        return 0;
    }
    char t[96];
    if (!cJSON_IsString(v) || !v->valuestring) {
        json_describe(v, t, sizeof t);
        return json_fail_key(c, key, "%s (expected %s)", t, what);
    }
    size_t l = strlen(v->valuestring);
    if (l == 0)
        return json_fail_key(c, key, "\"\" is empty (expected %s)", what);
    if (l >= n) {
        json_value_text(v, t, sizeof t);
        return json_fail_key(c, key, "%s is too long (%zu bytes; expected %s of at most %zu bytes)", t, l, what, n - 1);
    }
    memcpy(out, v->valuestring, l + 1);
    return 1;
}

int json_get_enum(struct jctx *c, const cJSON *obj, const char *key, const char *const *names, size_t n,
                  const char *noun, int def, bool required, int *out)
{
    char list[256];
    join_names(names, n, list, sizeof list);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) {
        if (required)
            return json_fail_key(c, key, "missing (expected a %s: one of %s)", noun, list);
        *out = def;
        return 0;
    }
    char t[96];
    if (!cJSON_IsString(v) || !v->valuestring) {
        json_describe(v, t, sizeof t);
        return json_fail_key(c, key, "%s (expected a %s: one of %s)", t, noun, list);
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(v->valuestring, names[i]) == 0) {
            *out = (int)i;
            return 1;
        }
    }
    const char *near = json_suggest(v->valuestring, names, n);
    json_value_text(v, t, sizeof t);
    if (near)
        return json_fail_key(c, key, "%s is not a %s (expected one of %s; did you mean \"%s\"?)", t, noun, list, near);
    return json_fail_key(c, key, "%s is not a %s (expected one of %s)", t, noun, list);
}

int json_get_child(struct jctx *c, const cJSON *obj, const char *key, int type, bool required, const cJSON **out)
{
    const char *expected = type == cJSON_Array ? "an array" : "an object";
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = NULL;
    if (!v) {
        if (required)
            return missing(c, key, expected);
        return 0;
    }
    if ((v->type & 0xFF) != type) {
        char t[96];
        json_describe(v, t, sizeof t);
        return json_fail_key(c, key, "%s (expected %s)", t, expected);
    }
    *out = v;
    return 1;
}

bool json_name_ok(const char *s, const char *extra)
{
    if (!*s)
        return false;
    for (const char *p = s; *p; p++) {
        char ch = *p;
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
            continue;
        if (p != s && extra && strchr(extra, ch))
            continue;
        return false;
    }
    return true;
}

uint64_t json_hash(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}
