/* secret_file: reading a credential from a private file (see secret_file.h). A file every user
 * can read is refused rather than used: a secret that anyone on the box can read is no secret. */
#include "secret_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int secret_file_read(const char *key, const char *path, size_t max, char **out, size_t *len, struct diag *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        diag_set(err, "%s %s: cannot open: %s", key, path, strerror(errno));
        return -1;
    }
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        diag_set(err, "%s %s: not a regular file", key, path);
        goto fail;
    }
    if (st.st_mode & S_IROTH) {
        diag_set(err,
                 "%s %s: readable by every user (mode %04o); refusing to use it "
                 "(expected a private file: chmod 600 it)",
                 key, path, (unsigned)(st.st_mode & 07777));
        goto fail;
    }
    buf = calloc(1, max + 1);
    if (!buf) {
        diag_set(err, "%s %s: out of memory", key, path);
        goto fail;
    }
    ssize_t n = read(fd, buf, max + 1);
    if (n < 0) {
        diag_set(err, "%s %s: cannot read: %s", key, path, strerror(errno));
        goto fail;
    }
    if ((size_t)n > max) {
        diag_set(err, "%s %s: longer than %zu bytes (expected the secret alone, on one line)", key, path, max);
        goto fail;
    }
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    if (n == 0 || memchr(buf, '\0', (size_t)n)) {
        diag_set(err, "%s %s: %s (expected the secret on one line)", key, path, n == 0 ? "empty" : "holds a NUL byte");
        goto fail;
    }
    close(fd);
    *out = buf;
    *len = (size_t)n;
    return 0;
fail:
    secret_free(buf, max);
    close(fd);
    return -1;
}

void secret_free(char *secret, size_t max)
{
    if (!secret)
        return;
    explicit_bzero(secret, max + 1);
    free(secret);
}
