/* profile: loads driver profiles (device register maps as JSON data) from drivers directories. */
#ifndef CARETAKER_PROFILE_H
#define CARETAKER_PROFILE_H

#include <stddef.h>

#include "diag.h"
#include "model.h"

/* Parses one profile file. Every error names the file, the JSON path and what was expected;
 * unknown keys are errors with a "did you mean". Returns 0 or -1. */
int profile_load_file(const char *path, struct profile *out, struct diag *err);

/* Parses a profile from text (path is used in messages only). For tests and fuzzing. */
int profile_parse(const char *text, size_t len, const char *path, struct profile *out, struct diag *err);

/* Finds <dir>/<driver>.json in dirs, first match wins (so a site's own directory, listed
 * first, can shadow an installed model). Returns 0 and fills path_out, or -1. */
int profile_find(const char *const *dirs, int ndirs, const char *driver, char *path_out, size_t n);

/* Lists every driver name found under dirs (recursively, "<sub>/<name>" without ".json"),
 * for "did you mean". *names is malloc'd; free it. Returns the count, or -1. */
int profile_list(const char *const *dirs, int ndirs, char (**names)[NAME_MAX_LEN]);

/* True when driver is a well-formed driver name: segments of a-z, 0-9, '_' and '-' joined by
 * '/', shorter than NAME_MAX_LEN ("level/ultrasonic-generic"). Such a name cannot leave the
 * drivers directory it is looked up in. */
bool profile_driver_name_ok(const char *driver);

/* For a param the gateway reads itself (report_max_s, maintenance_days), whether value is out of
 * its range: true with what is wrong and what is expected in why ("-5 seconds between full
 * snapshots (expected ...)"); false for a value in range or any other param. */
bool profile_param_out_of_range(const char *name, double value, char *why, size_t n);

/* Releases what profile_load_file allocated inside p (not p itself). */
void profile_release(struct profile *p);

#endif
