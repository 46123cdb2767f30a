/*
 * test_cli_output.c - output.c: names from URLs, relative output paths,
 * the output directory, the NAME.part-then-rename discipline (commit,
 * abort, resume, --create-dirs) and containment: symbolic links planted
 * inside the output directory must stop a write with ELOOP, never lead it
 * outside.  Every test works in its own temporary directories and ends by
 * checking that no descriptor is left open.
 */
#include "cli_test_util.h"

#include "output.h"

#include <limits.h>

/* ---- output_name_from_url -------------------------------------------- */

/* Asserts the name derived from url is want. */
static void name_is(const char *url, const char *want) {
  const char *why = NULL;
  char *got = output_name_from_url(url, &why);
  cr_assert_not_null(got, "%s: NULL (%s)", url, why ? why : "no reason");
  cr_assert_str_eq(got, want, "%s", url);
  free(got);
}

/* Asserts no name is derived from url, with a reason containing part. */
static void no_name(const char *url, const char *part) {
  const char *why = NULL;
  char *got = output_name_from_url(url, &why);
  cr_assert_null(got, "%s: got '%s'", url, got);
  cr_assert_not_null(why, "%s: no reason", url);
  cr_assert_not_null(strstr(why, part), "%s: reason '%s' lacks '%s'", url, why,
                     part);
}

Test(output_name, last_segment, .timeout = T_SHORT) {
  name_is("http://h/file.bin", "file.bin");
  name_is("http://h/a/b/c/archive.tar.gz", "archive.tar.gz");
  name_is("https://example.com:8443/x/y.txt", "y.txt");
  name_is("http://h/.hidden", ".hidden");
  name_is("http://h/...", "...");
  name_is("http://h/a..b", "a..b");
}

Test(output_name, percent_decoding, .timeout = T_SHORT) {
  name_is("http://h/my%20file.txt", "my file.txt");
  name_is("http://h/%41%62%63", "Abc");
  name_is("http://h/a%2b%2Bb", "a++b");
  name_is("http://h/100%25", "100%");
  /* not an escape: kept as written */
  name_is("http://h/%zz", "%zz");
  name_is("http://h/a%2", "a%2");
  name_is("http://h/a%", "a%");
  /* an encoded ".." in an earlier segment is not the name */
  name_is("http://h/%2e%2e/x", "x");
}

Test(output_name, query_and_fragment_ignored, .timeout = T_SHORT) {
  name_is("http://h/f.bin?x=1", "f.bin");
  name_is("http://h/f.bin?x=/y/z.txt", "f.bin");
  name_is("http://h/f.bin#frag", "f.bin");
  name_is("http://h/f.bin#a/b", "f.bin");
  name_is("http://h/a%20b?q=1#f", "a b");
}

Test(output_name, non_ascii_utf8_kept, .timeout = T_SHORT) {
  name_is("http://h/caf%C3%A9.txt", "caf\xc3\xa9.txt");
  name_is("http://h/%E2%82%AC%F0%9F%98%80", "\xe2\x82\xac\xf0\x9f\x98\x80");
  name_is("http://h/caf\xc3\xa9.txt", "caf\xc3\xa9.txt");
}

Test(output_name, no_file_name, .timeout = T_SHORT) {
  no_name("http://h/dir/", "ends in '/'");
  no_name("http://h/a/b//", "ends in '/'");
  no_name("http://h/", "ends in '/'");
  no_name("http://h", "ends in '/'");
  no_name("http://h/?q=file.bin", "ends in '/'");
  no_name("http://h/#file.bin", "ends in '/'");
  no_name("::::", "cannot be parsed");
}

Test(output_name, unsafe_bytes_refused, .timeout = T_SHORT) {
  const char *reason = "control character";
  no_name("http://h/a%2Fb", reason);
  no_name("http://h/a%2fb", reason);
  no_name("http://h/..%2Fetc", reason);
  no_name("http://h/a%5Cb", reason);
  no_name("http://h/a%5cb", reason);
  no_name("http://h/a%00b", reason);
  no_name("http://h/a%00", reason);
  no_name("http://h/a%0Ab", reason);
  no_name("http://h/a%0db", reason);
  no_name("http://h/a%01", reason);
  no_name("http://h/a%1F", reason);
  no_name("http://h/a%7F", reason);
  no_name("http://h/%09tab", reason);
  no_name("http://h/a\\b", reason);
}

Test(output_name, dot_names_refused, .timeout = T_SHORT) {
  /* libcurl may normalise a literal "." or ".." away; either way no name */
  const char *why = NULL;
  const char *urls[] = {"http://h/.", "http://h/..", "http://h/a/..",
                        "http://h/a/."};
  for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
    char *got = output_name_from_url(urls[i], &why);
    cr_assert_null(got, "%s: got '%s'", urls[i], got);
    cr_assert_not_null(why);
  }
  no_name("http://h/%2e", "\"..\"");
  no_name("http://h/%2E", "\"..\"");
  no_name("http://h/%2e%2e", "\"..\"");
  no_name("http://h/a/%2E%2E", "\"..\"");
  no_name("http://h/.%2e", "\"..\"");
  no_name("http://h/%2e%2e?x", "\"..\"");
}

Test(output_name, length_limit, .timeout = T_SHORT) {
  char url[1024], *p;
  /* exactly NAME_MAX bytes: fine */
  p = url + sprintf(url, "http://h/d/");
  memset(p, 'n', 255);
  p[255] = '\0';
  const char *why = NULL;
  char *got = output_name_from_url(url, &why);
  cr_assert_not_null(got, "%s", why);
  cr_assert_eq(strlen(got), 255);
  free(got);
  /* one more: refused */
  p[255] = 'n';
  p[256] = '\0';
  no_name(url, "longer than 255");
  /* the limit is on the decoded name: 255 escapes are 255 bytes */
  p = url + sprintf(url, "http://h/");
  for (int i = 0; i < 255; i++)
    p += sprintf(p, "%%41");
  got = output_name_from_url(url, &why);
  cr_assert_not_null(got, "%s", why);
  cr_assert_eq(strlen(got), 255);
  cr_assert_eq(got[0], 'A');
  free(got);
  sprintf(p, "%%41");
  no_name(url, "longer than 255");
  /* 128 two-byte UTF-8 characters: 256 bytes */
  p = url + sprintf(url, "http://h/");
  for (int i = 0; i < 128; i++)
    p += sprintf(p, "%%C3%%A9");
  no_name(url, "longer than 255");
}

/* ---- output_check_relpath --------------------------------------------- */

static void rel_ok(const char *p) {
  const char *why = NULL;
  cr_assert_eq(output_check_relpath(p, &why), 0, "'%s': %s", p, why);
}

static void rel_bad(const char *p, const char *part) {
  const char *why = NULL;
  cr_assert_eq(output_check_relpath(p, &why), -1, "'%s' accepted", p);
  cr_assert_not_null(why, "'%s': no reason", p);
  cr_assert_not_null(strstr(why, part), "'%s': reason '%s' lacks '%s'", p, why,
                     part);
}

Test(output_relpath, accepted, .timeout = T_SHORT) {
  rel_ok("a");
  rel_ok("a/b/c.txt");
  rel_ok(".hidden");
  rel_ok("..a/b..");
  rel_ok("a/.b/...");
  rel_ok("caf\xc3\xa9/\xe2\x82\xac.bin");
  rel_ok("sp ace/x");
}

Test(output_relpath, refused, .timeout = T_SHORT) {
  rel_bad("", "empty");
  rel_bad("/abs", "absolute");
  rel_bad("//x", "absolute");
  rel_bad("a/../b", "\"..\"");
  rel_bad("..", "\"..\"");
  rel_bad("../a", "\"..\"");
  rel_bad("a/..", "\"..\"");
  rel_bad("./a", "\".\"");
  rel_bad("a/./b", "\".\"");
  rel_bad("a/.", "\".\"");
  rel_bad(".", "\".\"");
  rel_bad("a//b", "has an empty component (\"//\")");
  rel_bad("a/", "ends with \"/\"");
  rel_bad("a/b/", "ends with \"/\"");
  rel_bad("a\\b", "backslash");
  rel_bad("..\\x", "backslash");
  rel_bad("a\nb", "control");
  rel_bad("a\x01", "control");
  rel_bad("a/\x1f/b", "control");
  rel_bad("a\x7f", "control");
  rel_bad("\tb", "control");
}

Test(output_relpath, whole_length, .timeout = T_SHORT) {
  char *p = malloc(PATH_MAX + 2);
  for (size_t i = 0; i < PATH_MAX + 1; i++)
    p[i] = i % 100 == 99 ? '/' : 'a';
  p[PATH_MAX + 1] = '\0';
  rel_bad(p, "longer than 4096 bytes");
  p[PATH_MAX] = '\0';
  p[PATH_MAX - 1] = 'a';
  rel_ok(p);
  free(p);
}

Test(output_relpath, component_length, .timeout = T_SHORT) {
  char p[600];
  memset(p, 'c', 255);
  p[255] = '\0';
  rel_ok(p);
  strcpy(p + 255, "/x");
  rel_ok(p);
  memset(p, 'c', 256);
  p[256] = '\0';
  rel_bad(p, "longer than 255");
  /* a long component in the middle is refused too */
  p[0] = 'a';
  p[1] = '/';
  memset(p + 2, 'c', 256);
  strcpy(p + 258, "/z");
  rel_bad(p, "longer than 255");
}

/* ---- the output directory and its files ------------------------------ */

struct env {
  int fds;
  char *tmp;     /* removed at the end */
  char *out;     /* tmp/out */
  char *outside; /* tmp/outside */
  output_dir *od;
};

static void env_start(struct env *e) {
  e->fds = tu_count_fds();
  e->tmp = tu_mkdtemp();
  e->out = tu_join(e->tmp, "out");
  e->outside = tu_join(e->tmp, "outside");
  cr_assert_eq(mkdir(e->outside, 0755), 0);
  cr_assert_eq(output_dir_open(e->out, &e->od), 0, "%s", strerror(errno));
}

static void env_finish(struct env *e) {
  output_dir_close(e->od);
  cr_assert_eq(tu_count_fds(), e->fds, "descriptors left open");
  free(e->out);
  free(e->outside);
  tu_rm_rf(e->tmp);
}

/* out/rel, read whole; NULL if absent. */
static char *out_read(struct env *e, const char *rel) {
  char *p = tu_join(e->out, rel);
  char *s = tu_read_file(p, NULL);
  free(p);
  return s;
}

static char out_kind(struct env *e, const char *rel) {
  char *p = tu_join(e->out, rel);
  char k = tu_kind(p);
  free(p);
  return k;
}

static void out_write(struct env *e, const char *rel, const char *s) {
  char *p = tu_join(e->out, rel);
  tu_write_file(p, s, strlen(s));
  free(p);
}

static void out_symlink(struct env *e, const char *target, const char *rel) {
  char *p = tu_join(e->out, rel);
  cr_assert_eq(symlink(target, p), 0, "symlink %s: %s", p, strerror(errno));
  free(p);
}

Test(output_dir, creates_nested_directories, .timeout = T_SHORT) {
  int fds = tu_count_fds();
  char *tmp = tu_mkdtemp();
  char *deep = tu_join(tmp, "a/b/c/d");
  output_dir *od = NULL;
  cr_assert_eq(output_dir_open(deep, &od), 0, "%s", strerror(errno));
  cr_assert_eq(tu_kind(deep), 'd');
  cr_assert_str_eq(output_dir_path(od), deep);
  output_dir_close(od);
  /* an existing directory opens as well, a trailing '/' too */
  char *slash = tu_join(deep, "");
  cr_assert_eq(output_dir_open(slash, &od), 0, "%s", strerror(errno));
  cr_assert_str_eq(output_dir_path(od), slash);
  output_dir_close(od);
  output_dir_close(NULL);
  cr_assert_eq(tu_count_fds(), fds);
  free(slash);
  free(deep);
  tu_rm_rf(tmp);
}

Test(output_dir, under_a_file_fails, .timeout = T_SHORT) {
  int fds = tu_count_fds();
  char *tmp = tu_mkdtemp();
  char *file = tu_join(tmp, "file");
  tu_write_file(file, "x", 1);
  char *below = tu_join(file, "sub");
  output_dir *od = (output_dir *)0x1;
  errno = 0;
  cr_assert_eq(output_dir_open(below, &od), -1);
  cr_assert_eq(errno, ENOTDIR, "errno %d", errno);
  cr_assert_eq(od, (output_dir *)0x1, "*out written on failure");
  errno = 0;
  cr_assert_eq(output_dir_open(file, &od), -1);
  cr_assert_eq(errno, ENOTDIR, "errno %d", errno);
  cr_assert_eq(tu_count_fds(), fds);
  free(below);
  free(file);
  tu_rm_rf(tmp);
}

Test(output_file, part_then_rename_on_commit, .timeout = T_SHORT) {
  struct env e;
  env_start(&e);
  struct output_file f;
  cr_assert_eq(output_file_open(e.od, "x.bin", false, false, &f), 0, "%s",
               strerror(errno));
  cr_assert_eq(f.offset, 0);
  cr_assert_eq(out_kind(&e, "x.bin.part"), 'f');
  cr_assert_eq(out_kind(&e, "x.bin"), 0, "final name before commit");
  cr_assert_eq(output_file_write(&f, "hello ", 6), 0);
  cr_assert_eq(output_file_write(&f, "world", 5), 0);
  cr_assert_eq(output_file_write(&f, "", 0), 0);
  cr_assert_eq(out_kind(&e, "x.bin"), 0);
  cr_assert_eq(output_file_commit(&f, false), 0, "%s", strerror(errno));
  cr_assert_eq(f.fd, -1);
  cr_assert_eq(f.dirfd, -1);
  cr_assert_null(f.name);
  cr_assert_null(f.part);
  char *s = out_read(&e, "x.bin");
  cr_assert_str_eq(s, "hello world");
  free(s);
  cr_assert_eq(out_kind(&e, "x.bin.part"), 0, ".part left after commit");
  cr_assert(output_exists(e.od, "x.bin"));
  cr_assert_eq(output_size(e.od, "x.bin"), 11);
  env_finish(&e);
}

Test(output_file, commit_with_fsync_replaces_old_file, .timeout = T_SHORT) {
  struct env e;
  env_start(&e);
  out_write(&e, "x.bin", "old contents, longer");
  struct output_file f;
  cr_assert_eq(output_file_open(e.od, "x.bin", false, false, &f), 0);
  /* the old file stays whole until the commit */
  char *s = out_read(&e, "x.bin");
  cr_assert_str_eq(s, "old contents, longer");
  free(s);
  cr_assert_eq(output_file_write(&f, "new", 3), 0);
  cr_assert_eq(output_file_commit(&f, true), 0, "%s", strerror(errno));
  s = out_read(&e, "x.bin");
  cr_assert_str_eq(s, "new");
  free(s);
  cr_assert_eq(tu_count_entries(e.out), 1);
  env_finish(&e);
}

Test(output_file, large_write, .timeout = T_SHORT) {
  struct env e;
  env_start(&e);
  size_t n = 3u << 20;
  char *buf = malloc(n);
  for (size_t i = 0; i < n; i++)
    buf[i] = (char)(i * 131 + 7);
  struct output_file f;
  cr_assert_eq(output_file_open(e.od, "big", false, false, &f), 0);
  cr_assert_eq(output_file_write(&f, buf, n), 0);
  cr_assert_eq(output_file_commit(&f, false), 0);
  size_t len = 0;
  char *p = tu_join(e.out, "big");
  char *got = tu_read_file(p, &len);
  cr_assert_eq(len, n);
  cr_assert(memcmp(got, buf, n) == 0);
  cr_assert_eq(output_size(e.od, "big"), n);
  free(got);
  free(p);
  free(buf);
  env_finish(&e);
}

Test(output_file, abort_removes_part, .timeout = T_SHORT) {
  struct env e;
  env_start(&e);
  struct output_file f;
  cr_assert_eq(output_file_open(e.od, "x.bin", false, false, &f), 0);
  cr_assert_eq(output_file_write(&f, "partial", 7), 0);
  output_file_abort(&f, false);
  cr_assert_eq(f.fd, -1);
  cr_assert_eq(f.dirfd, -1);
  cr_assert_null(f.name);
  cr_assert_eq(out_kind(&e, "x.bin.part"), 0);
  cr_assert_eq(out_kind(&e, "x.bin"), 0);
  cr_assert_eq(tu_count_entries(e.out), 0);
  /* a second abort of the same (now empty) file does nothing */
  output_file_abort(&f, false);
  env_finish(&e);
}

Test(output_file, abort_keep_leaves_part, .timeout = T_SHORT) {
  struct env e;
  env_start(&e);
  struct output_file f;
  cr_assert_eq(output_file_open(e.od, "x.bin", false, false, &f), 0);
  cr_assert_eq(output_file_write(&f, "partial", 7), 0);
  output_file_abort(&f, true);
  char *s = out_read(&e, "x.bin.part");
  cr_assert_str_eq(s, "partial");
  free(s);
  cr_assert_eq(out_kind(&e, "x.bin"), 0);
  env_finish(&e);
}

Test(output_file, resume_appends_and_reports_offset, .timeout = T_SHORT) {
  struct env e;
  env_start(&e);
  out_write(&e, "x.bin.part", "abc");
  struct output_file f;
  cr_assert_eq(output_file_open(e.od, "x.bin", false, true, &f), 0);
  cr_assert_eq(f.offset, 3);
  cr_assert_eq(output_file_write(&f, "def", 3), 0);
  cr_assert_eq(output_file_commit(&f, false), 0);
  char *s = out_read(&e, "x.bin");
  cr_assert_str_eq(s, "abcdef");
  free(s);
  /* resume with no .part: starts empty at offset 0 */
  cr_assert_eq(output_file_open(e.od, "y.bin", false, true, &f), 0);
  cr_assert_eq(f.offset, 0);
  cr_assert_eq(output_file_write(&f, "y", 1), 0);
  cr_assert_eq(output_file_commit(&f, false), 0);
  s = out_read(&e, "y.bin");
  cr_assert_str_eq(s, "y");
  free(s);
  env_finish(&e);
}

Test(output_file, resume_keeps_readable_prefix, .timeout = T_SHORT) {
  struct env e;
  env_start(&e);
  out_write(&e, "r.part", "prefix");
  struct output_file f;
  cr_assert_eq(output_file_open(e.od, "r", false, true, &f), 0);
  char buf[16] = {0};
  /* the .part is opened for reading too (resumed bytes are hashed) */
  cr_assert_eq(pread(f.fd, buf, sizeof(buf), 0), 6);
  cr_assert_str_eq(buf, "prefix");
  output_file_abort(&f, true);
  char *s = out_read(&e, "r.part");
  cr_assert_str_eq(s, "prefix");
  free(s);
  env_finish(&e);
}

Test(output_file, without_resume_truncates, .timeout = T_SHORT) {
  struct env e;
  env_start(&e);
  out_write(&e, "x.bin.part", "stale bytes");
  struct output_file f;
  cr_assert_eq(output_file_open(e.od, "x.bin", false, false, &f), 0);
  cr_assert_eq(f.offset, 0);
  cr_assert_eq(output_file_write(&f, "new", 3), 0);
  cr_assert_eq(output_file_commit(&f, false), 0);
  char *s = out_read(&e, "x.bin");
  cr_assert_str_eq(s, "new");
  free(s);
  env_finish(&e);
}

Test(output_file, create_dirs, .timeout = T_SHORT) {
  struct env e;
  env_start(&e);
  struct output_file f;
  errno = 0;
  cr_assert_eq(output_file_open(e.od, "a/b/c.txt", false, false, &f), -1);
  cr_assert_eq(errno, ENOENT, "errno %d", errno);
  cr_assert_eq(f.fd, -1);
  cr_assert_eq(f.dirfd, -1);
  cr_assert_eq(tu_count_entries(e.out), 0, "created something anyway");
  cr_assert_eq(output_file_open(e.od, "a/b/c.txt", true, false, &f), 0, "%s",
               strerror(errno));
  cr_assert_eq(out_kind(&e, "a"), 'd');
  cr_assert_eq(out_kind(&e, "a/b"), 'd');
  cr_assert_eq(out_kind(&e, "a/b/c.txt.part"), 'f');
  cr_assert_eq(output_file_write(&f, "c", 1), 0);
  cr_assert_eq(output_file_commit(&f, false), 0);
  char *s = out_read(&e, "a/b/c.txt");
  cr_assert_str_eq(s, "c");
  free(s);
  cr_assert_eq(tu_count_entries(e.out), 1);
  /* existing directories need no create_dirs */
  cr_assert_eq(output_file_open(e.od, "a/b/d.txt", false, false, &f), 0);
  output_file_abort(&f, false);
  cr_assert_eq(out_kind(&e, "a/b/d.txt.part"), 0);
  /* a file where a directory should be */
  errno = 0;
  cr_assert_eq(output_file_open(e.od, "a/b/c.txt/e", true, false, &f), -1);
  cr_assert_eq(errno, ENOTDIR, "errno %d", errno);
  env_finish(&e);
}

/* ---- containment ----------------------------------------------------- */

Test(output_contain, symlinked_directory, .timeout = T_SHORT) {
  struct env e;
  env_start(&e);
  out_symlink(&e, e.outside, "sub");
  struct output_file f;
  for (int create = 0; create < 2; create++)
    for (int resume = 0; resume < 2; resume++) {
      errno = 0;
      cr_assert_eq(output_file_open(e.od, "sub/f.bin", create, resume, &f), -1,
                   "a write went through the link");
      cr_assert_eq(errno, ELOOP, "create %d resume %d: errno %d (%s)", create,
                   resume, errno, strerror(errno));
      cr_assert_eq(f.fd, -1);
      cr_assert_eq(f.dirfd, -1);
    }
  /* deeper: out/a/sub2 -> outside */
  cr_assert_eq(output_file_open(e.od, "a/keep", true, false, &f), 0);
  output_file_abort(&f, false);
  out_symlink(&e, e.outside, "a/sub2");
  errno = 0;
  cr_assert_eq(output_file_open(e.od, "a/sub2/x/y.bin", true, false, &f), -1);
  cr_assert_eq(errno, ELOOP, "errno %d", errno);
  /* a relative link to the outside is no different */
  out_symlink(&e, "../outside", "rel");
  errno = 0;
  cr_assert_eq(output_file_open(e.od, "rel/f.bin", true, false, &f), -1);
  cr_assert_eq(errno, ELOOP, "errno %d", errno);
  cr_assert_eq(tu_count_entries(e.outside), 0,
               "something was written "
               "outside the output directory");
  cr_assert_eq(out_kind(&e, "sub"), 'l');
  env_finish(&e);
}

Test(output_contain, symlinked_part_file, .timeout = T_SHORT) {
  struct env e;
  env_start(&e);
  char *victim = tu_join(e.outside, "file");
  tu_write_file(victim, "ORIGINAL", 8);
  out_symlink(&e, victim, "x.bin.part");
  struct output_file f;
  for (int resume = 0; resume < 2; resume++) {
    errno = 0;
    cr_assert_eq(output_file_open(e.od, "x.bin", false, resume, &f), -1,
                 "resume %d: opened through the link", resume);
    cr_assert_eq(errno, ELOOP, "resume %d: errno %d (%s)", resume, errno,
                 strerror(errno));
  }
  char *s = tu_read_file(victim, NULL);
  cr_assert_str_eq(s, "ORIGINAL", "the outside file changed");
  free(s);
  /* a dangling link must not create its target either */
  char *ghost = tu_join(e.outside, "ghost");
  out_symlink(&e, ghost, "g.part");
  errno = 0;
  cr_assert_eq(output_file_open(e.od, "g", false, false, &f), -1);
  cr_assert_eq(errno, ELOOP, "errno %d", errno);
  cr_assert_eq(tu_kind(ghost), 0, "the link's target was created");
  cr_assert_eq(tu_count_entries(e.outside), 1);
  cr_assert_eq(out_kind(&e, "x.bin.part"), 'l');
  cr_assert_eq(out_kind(&e, "x.bin"), 0);
  free(ghost);
  free(victim);
  env_finish(&e);
}

Test(output_contain, commit_replaces_a_link_not_its_target,
     .timeout = T_SHORT) {
  struct env e;
  env_start(&e);
  char *victim = tu_join(e.outside, "file");
  tu_write_file(victim, "ORIGINAL", 8);
  out_symlink(&e, victim, "y.bin");
  struct output_file f;
  cr_assert_eq(output_file_open(e.od, "y.bin", false, false, &f), 0);
  cr_assert_eq(output_file_write(&f, "mine", 4), 0);
  cr_assert_eq(output_file_commit(&f, false), 0);
  cr_assert_eq(out_kind(&e, "y.bin"), 'f', "the link is still there");
  char *s = out_read(&e, "y.bin");
  cr_assert_str_eq(s, "mine");
  free(s);
  s = tu_read_file(victim, NULL);
  cr_assert_str_eq(s, "ORIGINAL");
  free(s);
  free(victim);
  env_finish(&e);
}

Test(output_contain, exists_and_size_do_not_follow_links, .timeout = T_SHORT) {
  struct env e;
  env_start(&e);
  char *victim = tu_join(e.outside, "f.bin");
  tu_write_file(victim, "0123456789", 10);
  out_symlink(&e, victim, "l.bin");
  out_symlink(&e, e.outside, "sub");
  out_write(&e, "r.bin", "12345");
  char *d = tu_join(e.out, "d");
  cr_assert_eq(mkdir(d, 0755), 0);
  cr_assert(output_exists(e.od, "r.bin"));
  cr_assert_eq(output_size(e.od, "r.bin"), 5);
  cr_assert_not(output_exists(e.od, "l.bin"), "followed a file link");
  cr_assert_eq(output_size(e.od, "l.bin"), 0, "followed a file link");
  cr_assert_not(output_exists(e.od, "sub/f.bin"), "followed a dir link");
  cr_assert_eq(output_size(e.od, "sub/f.bin"), 0, "followed a dir link");
  cr_assert_not(output_exists(e.od, "d"), "a directory is not a file");
  cr_assert_eq(output_size(e.od, "d"), 0);
  cr_assert_not(output_exists(e.od, "none"));
  cr_assert_eq(output_size(e.od, "none"), 0);
  cr_assert_not(output_exists(e.od, "none/x"));
  cr_assert_eq(output_size(e.od, "none/x"), 0);
  free(d);
  free(victim);
  env_finish(&e);
}

/* ---- -O FILE: output_target_open ---------------------------------------- */

Test(output_target, link_written_through_beside_its_target,
     .timeout = T_SHORT) {
  struct env e;
  env_start(&e);
  char *target = tu_join(e.outside, "t.bin");
  tu_write_file(target, "old", 3);
  out_symlink(&e, "../outside/t.bin", "l.bin");
  struct output_file f;
  cr_assert_eq(output_target_open(e.od, "l.bin", false, &f), 0, "%s",
               strerror(errno));
  cr_assert_not(f.direct);
  char *part = tu_join(e.outside, "t.bin.part");
  cr_assert_eq(tu_kind(part), 'f', "the .part goes beside the target");
  cr_assert_eq(output_file_write(&f, "new body", 8), 0);
  cr_assert_eq(output_file_commit(&f, true), 0, "%s", strerror(errno));
  cr_assert_eq(out_kind(&e, "l.bin"), 'l', "the link was replaced");
  char *s = tu_read_file(target, NULL);
  cr_assert_str_eq(s, "new body");
  cr_assert_eq(tu_kind(part), 0, ".part left");
  uint64_t size = 0;
  cr_assert(output_target_exists(e.od, "l.bin", &size));
  cr_assert_eq(size, 8);
  free(s);
  free(part);
  free(target);
  env_finish(&e);
}

Test(output_target, fifo_without_reader_is_eagain, .timeout = T_SHORT) {
  struct env e;
  env_start(&e);
  char *p = tu_join(e.out, "p");
  cr_assert_eq(mkfifo(p, 0644), 0);
  struct output_file f;
  errno = 0;
  cr_assert_eq(output_target_open(e.od, "p", true, &f), -1);
  cr_assert_eq(errno, EAGAIN, "errno %d", errno);
  int rd = open(p, O_RDONLY | O_NONBLOCK);
  cr_assert_geq(rd, 0);
  cr_assert_eq(output_target_open(e.od, "p", true, &f), 0, "%s",
               strerror(errno));
  cr_assert(f.direct);
  cr_assert_eq(f.offset, 0, "a FIFO is never resumed");
  cr_assert_eq(output_file_write(&f, "abc", 3), 0);
  cr_assert_eq(output_file_commit(&f, true), 0, "%s", strerror(errno));
  char buf[8];
  cr_assert_eq(read(rd, buf, sizeof(buf)), 3);
  struct stat st;
  cr_assert(lstat(p, &st) == 0 && S_ISFIFO(st.st_mode), "FIFO replaced");
  uint64_t size = 0;
  cr_assert_not(output_target_exists(e.od, "p", &size));
  close(rd);
  free(p);
  env_finish(&e);
}

Test(output_target, directories_and_loops_fail, .timeout = T_SHORT) {
  struct env e;
  env_start(&e);
  char *d = tu_join(e.out, "d");
  cr_assert_eq(mkdir(d, 0755), 0);
  out_symlink(&e, "d/", "to_dir");
  out_symlink(&e, "loop", "loop");
  struct output_file f;
  const char *names[] = {"d", "to_dir", "loop"};
  const int want[] = {EISDIR, EISDIR, ELOOP};
  for (int i = 0; i < 3; i++) {
    errno = 0;
    cr_assert_eq(output_target_open(e.od, names[i], false, &f), -1, "%s",
                 names[i]);
    cr_assert_eq(errno, want[i], "%s: errno %d", names[i], errno);
  }
  cr_assert_eq(out_kind(&e, "loop"), 'l');
  free(d);
  env_finish(&e);
}
