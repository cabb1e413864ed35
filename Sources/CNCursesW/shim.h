#ifndef CNCURSESW_SHIM_H
#define CNCURSESW_SHIM_H
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif
#define _XOPEN_SOURCE_EXTENDED 1
#define NCURSES_WIDECHAR 1
#include <locale.h>
#include <wchar.h>
#include <poll.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <ncursesw/curses.h>

static inline int chat_color_pair(int n) { return COLOR_PAIR(n); }
static inline int chat_a_bold(void) { return A_BOLD; }
static inline int chat_a_reverse(void) { return A_REVERSE; }
static inline int chat_a_dim(void) { return A_DIM; }
static inline int chat_a_underline(void) { return A_UNDERLINE; }
static inline WINDOW *chat_stdscr(void) { return stdscr; }
static inline int chat_wcwidth(wchar_t c) { return wcwidth(c); }
/* The terminal's size from the kernel (ioctl is variadic, so Swift cannot call it). */
static inline int chat_winsize(int *rows, int *cols) {
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) != 0) return -1;
    *rows = ws.ws_row;
    *cols = ws.ws_col;
    return 0;
}
static inline int chat_colors(void) { return COLORS; }
static inline int chat_color_pairs(void) { return COLOR_PAIRS; }
#endif
