/*
 * test_cli_redact.c - redact.c: the userinfo of a URL hidden (a password
 * as "user:***@", a lone user name as "***@"), the last '@' of the
 * authority taken, '@' after the authority left alone, query strings
 * kept, URLs without credentials returned as they are (no copy), and
 * scheme-less forms as error messages quote them.
 */
#include "cli_test_util.h"

#include "redact.h"

Test(redact, userinfo, .timeout = T_SHORT) {
  static const struct {
    const char *in, *want;
  } t[] = {
      {"http://user:secret@h/p", "http://user:***@h/p"},
      {"https://user:secret@h:8443", "https://user:***@h:8443"},
      {"http://user:@h/", "http://user:***@h/"},
      {"http://:secret@h/", "http://:***@h/"},
      {"http://token@h/x", "http://***@h/x"},
      {"http://user:p@ss@h/x", "http://user:***@h/x"},
      {"http://u:s@h?q=a@b", "http://u:***@h?q=a@b"},
      {"http://u:s@h#f@g", "http://u:***@h#f@g"},
      {"HTTP://U:S@H/", "HTTP://U:***@H/"},
      {"//u:s@h/p", "//u:***@h/p"},
      {"u:s@h/p", "u:***@h/p"},
      {"http://user:secret@[::1]:80/", "http://user:***@[::1]:80/"},
  };
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    char *own;
    const char *got = redact_url(t[i].in, &own);
    cr_assert_str_eq(got, t[i].want, "%s", t[i].in);
    cr_assert_eq(got, own, "%s: not the copy", t[i].in);
    free(own);
  }
}

Test(redact, nothing_to_hide, .timeout = T_SHORT) {
  static const char *const t[] = {"http://h/p",
                                  "http://h/a@b",
                                  "http://h?x=u:p@h",
                                  "http://h/?token=abc",
                                  "https://[::1]:8/x",
                                  "http://h#a@b",
                                  "",
                                  "h/p@x",
                                  "a/b://u:p@h"};
  for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
    char *own = (char *)1;
    cr_assert_eq(redact_url(t[i], &own), t[i], "%s changed", t[i]);
    cr_assert_null(own);
  }
  char *own = (char *)1;
  cr_assert_null(redact_url(NULL, &own));
  cr_assert_null(own);
}
