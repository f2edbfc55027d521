// kprintf: the kernel's printf. Supports %d %i %u %x %X %p %s %c %% with the
// flags '-' and '0', a width, and the length modifiers l, ll, z.
#include <stdarg.h>
#include "kernel.h"

struct out {
	char *buf;	// NULL: write to the console
	size_t cap, len;
};

static void
out_c(struct out *o, char c)
{
	if (o->buf) {
		if (o->len + 1 < o->cap)
			o->buf[o->len] = c;
	} else {
		console_putc(c);
	}
	o->len++;
}

static void
out_pad(struct out *o, char c, int n)
{
	while (n-- > 0)
		out_c(o, c);
}

// Print the digits of v in base; sign and padding as the spec asks.
static void
out_num(struct out *o, u64 v, int base, int neg, int upper, int width, int zero, int left)
{
	const char *dig = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[24];
	int n = 0;
	do {
		tmp[n++] = dig[v % base];
		v /= base;
	} while (v);
	int len = n + neg;
	if (!left && !zero)
		out_pad(o, ' ', width - len);
	if (neg)
		out_c(o, '-');
	if (!left && zero)
		out_pad(o, '0', width - len);
	while (n)
		out_c(o, tmp[--n]);
	if (left)
		out_pad(o, ' ', width - len);
}

static void
out_str(struct out *o, const char *s, int width, int left)
{
	if (!s)
		s = "(null)";
	int len = strlen(s);
	if (!left)
		out_pad(o, ' ', width - len);
	while (*s)
		out_c(o, *s++);
	if (left)
		out_pad(o, ' ', width - len);
}

static void
vformat(struct out *o, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			out_c(o, *fmt);
			continue;
		}
		int left = 0, zero = 0, width = 0, lng = 0;
		for (fmt++; *fmt == '-' || *fmt == '0'; fmt++)
			*fmt == '-' ? (left = 1) : (zero = 1);
		for (; *fmt >= '0' && *fmt <= '9'; fmt++)
			width = width * 10 + (*fmt - '0');
		for (; *fmt == 'l' || *fmt == 'z'; fmt++)
			lng = 1;
		switch (*fmt) {
		case 'd':
		case 'i': {
			s64 v = lng ? va_arg(ap, s64) : va_arg(ap, int);
			out_num(o, v < 0 ? -(u64)v : (u64)v, 10, v < 0, 0, width, zero, left);
			break;
		}
		case 'u':
			out_num(o, lng ? va_arg(ap, u64) : va_arg(ap, unsigned), 10, 0, 0, width,
				zero, left);
			break;
		case 'x':
		case 'X':
			out_num(o, lng ? va_arg(ap, u64) : va_arg(ap, unsigned), 16, 0, *fmt == 'X',
				width, zero, left);
			break;
		case 'p':
			out_str(o, "0x", 0, 0);
			out_num(o, (u64)va_arg(ap, void *), 16, 0, 0, 16, 1, 0);
			break;
		case 's':
			out_str(o, va_arg(ap, const char *), width, left);
			break;
		case 'c':
			out_c(o, (char)va_arg(ap, int));
			break;
		case '%':
			out_c(o, '%');
			break;
		case 0:
			return;
		default:
			out_c(o, '%');
			out_c(o, *fmt);
		}
	}
}

int
kprintf(const char *fmt, ...)
{
	struct out o = { 0 };
	va_list ap;
	va_start(ap, fmt);
	console_lock();
	vformat(&o, fmt, ap);
	console_unlock();
	va_end(ap);
	return o.len;
}

int
vksnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
	struct out o = { buf, n, 0 };
	vformat(&o, fmt, ap);
	if (n)
		buf[MIN(o.len, n - 1)] = 0;
	return o.len;
}

int
ksnprintf(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vksnprintf(buf, n, fmt, ap);
	va_end(ap);
	return r;
}
