/* test_secret_file: which modes and owners a secret file may have, and what a refusal says. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "secret_file.h"

static char dir[] = "/tmp/caretaker-secret-XXXXXX";

/* Opens a file of the given mode and group (-1: the creator's) and returns the message, or ""
 * when it was accepted. */
static const char *try_mode(const char *name, mode_t mode, gid_t gid)
{
    static struct diag d;
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return "cannot create the test file";
    fputs("secret\n", f);
    fclose(f);
    if (chmod(path, mode) < 0 || (gid != (gid_t)-1 && chown(path, (uid_t)-1, gid) < 0))
        return "cannot set the mode or group";
    diag_clear(&d);
    int fd = secret_file_open("mqtt.password_file", path, &d);
    if (fd >= 0) {
        close(fd);
        return "";
    }
    return d.msg;
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    CHECK(strcmp(try_mode("a", 0600, (gid_t)-1), "") == 0);
    CHECK(strcmp(try_mode("b", 0400, (gid_t)-1), "") == 0);
    /* the packaged layout: root:caretaker 0640, the daemon's own group */
    CHECK(strcmp(try_mode("c", 0640, getegid()), "") == 0);
    const char *m = try_mode("d", 0644, (gid_t)-1);
    CHECK_MSG(strstr(m, "mqtt.password_file ") == m && strstr(m, "/d: readable by every user (mode 0644)") &&
                  strstr(m, "chmod 600"),
              "%s", m);
    m = try_mode("e", 0602, (gid_t)-1);
    CHECK_MSG(strstr(m, "writable by every user (mode 0602)") != NULL, "%s", m);
    /* a group that may write it could replace the secret: even the service's own */
    m = try_mode("h", 0660, getegid());
    CHECK_MSG(strstr(m, "writable by its group (mode 0660)") != NULL, "%s", m);
    /* owned by another user, who may rewrite it whatever the mode: only as root can the test
     * give a file away */
    if (geteuid() == 0) {
        char path[128];
        snprintf(path, sizeof path, "%s/i", dir);
        FILE *f = fopen(path, "w");
        if (f) {
            fputs("secret\n", f);
            fclose(f);
        }
        CHECK(chmod(path, 0600) == 0 && chown(path, 65534, (gid_t)-1) == 0);
        struct diag od;
        diag_clear(&od);
        int fd = secret_file_open("mqtt.password_file", path, &od);
        CHECK_MSG(fd < 0 && strstr(od.msg, "owned by uid 65534, neither root nor the service's user"), "%s", od.msg);
        if (fd >= 0)
            close(fd);
    }
    /* another group: any gid for root; otherwise one of the caller's other groups, if any */
    gid_t groups[64];
    int n = getgroups(64, groups);
    gid_t other = geteuid() == 0 ? 65534 : (gid_t)-1;
    for (int i = 0; other == (gid_t)-1 && i < n; i++)
        if (groups[i] != getegid())
            other = groups[i];
    if (other != (gid_t)-1 && other != getegid()) {
        m = try_mode("f", 0640, other);
        CHECK_MSG(strstr(m, "readable by group") && strstr(m, "which is not the service's (mode 0640)"), "%s", m);
        CHECK(strcmp(try_mode("g", 0600, other), "") == 0); /* a group without access is harmless */
    }
    struct diag d;
    diag_clear(&d);
    CHECK(secret_file_open("mqtt.tls.key_file", dir, &d) < 0 && strstr(d.msg, "not a regular file"));
    diag_clear(&d);
    CHECK(secret_file_open("mqtt.tls.key_file", "/nonexistent/key.pem", &d) < 0 &&
          strstr(d.msg, "mqtt.tls.key_file /nonexistent/key.pem: cannot open: No such file"));
    for (const char *f = "abcdefghi"; *f; f++) {
        char path[128];
        snprintf(path, sizeof path, "%s/%c", dir, *f);
        unlink(path);
    }
    rmdir(dir);
    return check_report();
}
