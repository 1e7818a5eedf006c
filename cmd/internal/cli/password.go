package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// ErrPasswordsDiffer is ReadPassword's error when the two passwords typed
// on a terminal differ.
var ErrPasswordsDiffer = errors.New("the two passwords differ")

// ReadPassword reads a password: from a terminal, without echo, twice,
// after prompt and then "Again: " on stderr (ErrPasswordsDiffer when the
// two differ); from any other input, the first line (at most 1024 bytes,
// without its line ending), with no prompt.
func ReadPassword(stdin io.Reader, stderr io.Writer, prompt string) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, prompt)
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", ErrPasswordsDiffer
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 1024)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
