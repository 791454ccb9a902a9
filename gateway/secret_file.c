/* secret_file: refuses secrets that other users can read, before anything uses them, and reads
 * a one-line secret (see secret_file.h). */
#include "secret_file.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PRIVATE_HINT "expected a private file: chmod 600 it, or chmod 640 with the service's group"

static const char *group_name(gid_t gid, char *buf, size_t n)
{
    struct group gr, *found = NULL;
    char tmp[1024];
    if (getgrgid_r(gid, &gr, tmp, sizeof tmp, &found) == 0 && found)
        snprintf(buf, n, "\"%s\"", found->gr_name);
    else
        snprintf(buf, n, "%u", (unsigned)gid);
    return buf;
}

int secret_file_open(const char *key, const char *path, struct diag *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        diag_set(err, "%s %s: cannot open: %s", key, path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        diag_set(err, "%s %s: not a regular file", key, path);
        close(fd);
        return -1;
    }
    unsigned mode = (unsigned)(st.st_mode & 07777);
    char grp[64];
    if (st.st_mode & (S_IROTH | S_IWOTH)) {
        diag_set(err, "%s %s: %s by every user (mode %04o); refusing to use it (" PRIVATE_HINT ")", key, path,
                 st.st_mode & S_IROTH ? "readable" : "writable", mode);
    } else if (st.st_uid != 0 && st.st_uid != geteuid()) {
        /* Its owner may rewrite it whatever the mode says: root or the service itself only. */
        diag_set(
            err,
            "%s %s: owned by uid %u, neither root nor the service's user (mode %04o); refusing to use it (" PRIVATE_HINT
            ")",
            key, path, (unsigned)st.st_uid, mode);
    } else if (st.st_mode & S_IWGRP) {
        diag_set(err, "%s %s: writable by its group (mode %04o); refusing to use it (" PRIVATE_HINT ")", key, path,
                 mode);
    } else if ((st.st_mode & S_IRGRP) && st.st_gid != getegid()) {
        /* The daemon's own group is the one way to share the file with it and no one else. */
        diag_set(
            err, "%s %s: %s by group %s, which is not the service's (mode %04o); refusing to use it (" PRIVATE_HINT ")",
            key, path, st.st_mode & S_IRGRP ? "readable" : "writable", group_name(st.st_gid, grp, sizeof grp), mode);
    } else {
        return fd;
    }
    close(fd);
    return -1;
}

int secret_file_read(const char *key, const char *path, size_t max, char **out, size_t *len, struct diag *err)
{
    int fd = secret_file_open(key, path, err);
    if (fd < 0)
        return -1;
    char *buf = calloc(1, max + 1);
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
