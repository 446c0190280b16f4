package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf8"
)

// report is the lab report: Markdown that reads as plain text, written to
// the terminal as it is produced and kept for report.md.
type report struct {
	w   io.Writer // usually os.Stdout
	buf strings.Builder
}

func newReport(w io.Writer) *report { return &report{w: w} }

// printf appends formatted text.
func (r *report) printf(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	r.buf.WriteString(s)
	io.WriteString(r.w, s)
}

// section starts a numbered section.
func (r *report) section(title string) { r.printf("\n## %s\n\n", title) }

// para appends a paragraph.
func (r *report) para(format string, args ...any) { r.printf(format+"\n\n", args...) }

// Verdicts on a lecture's claim.
const (
	verdictAgrees    = "agrees"
	verdictPartly    = "partly agrees"
	verdictDisagrees = "disagrees"
)

// verdict appends the section's conclusion: whether Retina's figures agree
// with the lecture's claim (one of the verdict constants), and why.
func (r *report) verdict(word, format string, args ...any) {
	r.para("**Verdict: Retina %s with the lecture.** "+format, append([]any{word}, args...)...)
}

// table appends a Markdown table with padded columns; columns whose cells
// all look numeric are right-aligned.
func (r *report) table(header []string, rows [][]string) {
	r.printf("%s\n", formatTable(header, rows))
}

// String returns everything written so far.
func (r *report) String() string { return r.buf.String() }

// formatTable renders a Markdown table, columns padded to equal width.
func formatTable(header []string, rows [][]string) string {
	width := make([]int, len(header))
	right := make([]bool, len(header))
	for c, h := range header {
		width[c] = max(3, utf8.RuneCountInString(h))
		right[c] = len(rows) > 0
	}
	for _, row := range rows {
		for c, cell := range row {
			width[c] = max(width[c], utf8.RuneCountInString(cell))
			right[c] = right[c] && numeric(cell)
		}
	}
	pad := func(s string, c int) string {
		fill := strings.Repeat(" ", width[c]-utf8.RuneCountInString(s))
		if right[c] {
			return fill + s
		}
		return s + fill
	}
	var b strings.Builder
	line := func(cells []string) {
		b.WriteString("|")
		for c := range header {
			cell := ""
			if c < len(cells) {
				cell = cells[c]
			}
			b.WriteString(" " + pad(cell, c) + " |")
		}
		b.WriteString("\n")
	}
	line(header)
	b.WriteString("|")
	for c := range header {
		dash := strings.Repeat("-", width[c])
		if right[c] {
			dash = dash[1:] + ":"
		}
		b.WriteString(" " + dash + " |")
	}
	b.WriteString("\n")
	for _, row := range rows {
		line(row)
	}
	return b.String()
}

// numeric reports whether a table cell reads as a number: digits with
// separators, signs, a unit such as "%" or "×", or a dash for "none".
func numeric(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" || s == "–" {
		return true
	}
	s = strings.TrimRight(s, "%×s")
	for _, r := range s {
		if !strings.ContainsRune("0123456789.,+-−e", r) {
			return false
		}
	}
	return true
}

// commas formats n with thousands separators: 78400 → "78,400".
func commas(n int64) string {
	if n < 0 {
		return "-" + commas(-n)
	}
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, d := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return b.String()
}

// commasf formats x with the given decimals and thousands separators in the
// integer part: 29866.67 → "29,866.7" with 1 decimal.
func commasf(x float64, decimals int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return fmt.Sprint(x)
	}
	s := fmt.Sprintf("%.*f", decimals, math.Abs(x))
	intPart, frac, _ := strings.Cut(s, ".")
	var n int64
	fmt.Sscan(intPart, &n)
	out := commas(n)
	if frac != "" {
		out += "." + frac
	}
	if x < 0 && strings.Trim(s, "0.") != "" {
		out = "-" + out
	}
	return out
}

// pct formats a fraction as a percentage with two decimals.
func pct(f float64) string { return fmt.Sprintf("%.2f%%", 100*f) }

// yesNo is "yes" or "no".
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
