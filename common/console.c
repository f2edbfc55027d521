// The console: COM1 (16550 UART, input and output) mirrored to the VGA text screen.
// Input arrives by the COM1 interrupt (IRQ 4) into a ring buffer.
#include "kernel.h"
#include "x86.h"
#include "smp.h"

#define COM1 0x3f8
#define UART_DATA 0
#define UART_IER 1	// interrupt enable
#define UART_LCR 3	// line control
#define UART_MCR 4	// modem control (OUT2 gates the IRQ line)
#define UART_LSR 5	// line status
#define LSR_DATA_READY 0x01
#define LSR_THR_EMPTY 0x20

#define VGA_COLS 80
#define VGA_ROWS 25
#define VGA_ATTR 0x0700	// light grey on black
static u16 *const vga = (u16 *)(KERNBASE + 0xb8000);
static int vga_row, vga_col;

#define INBUF 256
static volatile u8 inbuf[INBUF];
static volatile u32 in_head, in_tail;	// head: next to read; tail: next to write
static char last_out;	// 0 at boot: the first [k] line starts a fresh line after GRUB's output
// 1 while the serial line holds nothing but blanks since the last character that some
// reader may take for a line break: console_write_user marks a '[' written there.
static int line_fresh = 1;

// One CPU prints at a time, a whole kprintf or klog line or write() at once, so a
// line is never interleaved with another CPU's. Recursive on one CPU (a panic
// inside a print still prints).
static struct spinlock console_lk = SPINLOCK_INIT("console");
static volatile int console_owner = -1;
static int console_depth;
static u64 console_flags;

void
console_lock(void)
{
	u64 flags = read_rflags();
	cli();
	int me = this_cpu()->id;
	if (console_owner == me) {
		console_depth++;
		return;
	}
	spin_lock(&console_lk);
	console_owner = me;
	console_depth = 1;
	console_flags = flags;
}

// A panic: take the console whoever holds it (a CPU that holds it may never let go,
// which may be why we panic), for good.
void
console_panic(void)
{
	console_owner = this_cpu()->id;
	console_depth = 1 << 30;
	console_lk.locked = 1;
}

void
console_unlock(void)
{
	if (--console_depth > 0)
		return;
	console_owner = -1;
	spin_unlock(&console_lk, console_flags);
}

void
console_init(void)
{
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, 0x80);	// DLAB: set the divisor
	outb(COM1 + UART_DATA, 1);	// 115200 baud
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, 0x03);	// 8 bits, no parity, one stop bit
	// FCR is left alone: QEMU's UART empties its FIFO whenever the FIFO-enable bit
	// changes, which would drop what was typed (or sent by the grader) during boot.
	outb(COM1 + UART_MCR, 0x0b);	// DTR, RTS, OUT2
	outb(COM1 + UART_IER, 0x01);	// interrupt when data arrives
	for (int i = 0; i < VGA_COLS * VGA_ROWS; i++)
		vga[i] = VGA_ATTR | ' ';
}

static void
vga_scroll(void)
{
	memmove(vga, vga + VGA_COLS, 2 * VGA_COLS * (VGA_ROWS - 1));
	for (int i = 0; i < VGA_COLS; i++)
		vga[VGA_COLS * (VGA_ROWS - 1) + i] = VGA_ATTR | ' ';
	vga_row = VGA_ROWS - 1;
}

static void
vga_putc(char c)
{
	if (c == '\n') {
		vga_col = 0;
		vga_row++;
	} else if (c == '\r') {
		vga_col = 0;
	} else if (c == '\b') {
		if (vga_col)
			vga[vga_row * VGA_COLS + --vga_col] = VGA_ATTR | ' ';
	} else {
		vga[vga_row * VGA_COLS + vga_col++] = VGA_ATTR | (u8)c;
		if (vga_col == VGA_COLS) {
			vga_col = 0;
			vga_row++;
		}
	}
	if (vga_row == VGA_ROWS)
		vga_scroll();
}

static void
uart_putc(char c)
{
	while (!(inb(COM1 + UART_LSR) & LSR_THR_EMPTY))
		;
	outb(COM1 + UART_DATA, c);
}

// Output one character; "\n" goes out as "\r\n" on the serial line.
void
console_putc(char c)
{
	if (c == '\n')
		uart_putc('\r');
	uart_putc(c);
	vga_putc(c);
	last_out = c;
	if (c != ' ' && c != '\t')
		line_fresh = (u8)c < 0x20 || (u8)c >= 0x7f;
}

void
console_bol(void)
{
	if (last_out != '\n')
		console_putc('\n');
}

void
console_write(const char *s, size_t n)
{
	console_lock();
	while (n--)
		console_putc(*s++);
	console_unlock();
}

// Write what a ring-3 program asked to write. No program may produce a serial line
// that reads as a kernel event line ("[k] ..."), however it splits its writes and
// whatever a reader takes for a line break (LF, CR, VT, FF, FS..RS, the UTF-8 of NEL
// and U+2028/9, a terminal's cursor moves): a '[' with nothing but blanks before it
// since such a break, or since the start of the line, is written as "\\[", and ESC
// as "^[" so that no escape sequence moves a terminal's cursor. The state lives in
// the console, so kernel lines written between two writes count too.
void
console_write_user(const char *s, size_t n)
{
	console_lock();
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == 0x1b) {
			console_write("^[", 2);
			continue;
		}
		if (c == '[' && line_fresh)
			console_putc('\\');
		console_putc(c);
	}
	console_unlock();
}

// COM1 interrupt: move waiting bytes into the ring. When the ring is full the rest
// stay in the UART, and QEMU holds back what follows until a reader makes room
// (console_getc_nowait polls here): typed-ahead input is delayed, never dropped.
void
console_irq(void)
{
	while (in_tail - in_head < INBUF && (inb(COM1 + UART_LSR) & LSR_DATA_READY))
		inbuf[in_tail++ % INBUF] = inb(COM1 + UART_DATA);
}

int
console_getc_nowait(void)
{
	console_irq();	// also poll, in case the interrupt is masked
	if (in_head == in_tail)
		return -1;
	return inbuf[in_head++ % INBUF];
}

int
console_getc(void)
{
	int c;
	while ((c = console_getc_nowait()) < 0)
		idle_wait();
	return c;
}
