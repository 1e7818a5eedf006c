package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/tillbox/tillbox/cmd/internal/cli"
	"github.com/tillbox/tillbox/display/technician"
)

const passwdUsage = `Usage: tillbox-hq passwd

Asks for a fleet page user's password (twice on a terminal, one line from
standard input otherwise) and prints its argon2id hash, never the password:
put it in the user's password_hash_file ([[user]] in the configuration).
`

// runPasswd is `tillbox-hq passwd`.
func runPasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(fs.Output(), passwdUsage) }
	if _, err := cli.ParseArgs(fs, args, stdout); err != nil {
		return err
	}
	password, err := cli.ReadPassword(stdin, stderr, "Password: ")
	if err != nil {
		return err
	}
	if len(password) < 8 {
		return errors.New("the password is shorter than 8 characters: nothing printed")
	}
	hash, err := technician.HashPassword(password)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, hash)
	return nil
}
