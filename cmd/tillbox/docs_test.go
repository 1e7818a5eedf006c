package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// TestDocLinks checks every relative link of README.md and docs/*.md: the
// file or folder it names exists in the repository, and a #fragment names a
// heading of the Markdown file it points at (as GitHub makes anchors).
func TestDocLinks(t *testing.T) {
	root := filepath.Join("..", "..")
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{filepath.Join(root, "README.md")}, files...)
	if len(files) < 2 {
		t.Fatalf("no docs/*.md beside README.md")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		for _, l := range docLinks(string(b)) {
			if err := checkDocLink(root, f, l.target); err != "" {
				t.Errorf("%s:%d: link %q: %s", rel, l.line, l.target, err)
			}
		}
	}
}

// TestDocLinksFindsBrokenOnes makes sure the check above can fail.
func TestDocLinksFindsBrokenOnes(t *testing.T) {
	dir := t.TempDir()
	md := "# A title\n\n## Second, part (two)\n\n" +
		"[ok](b.md) [ok](#a-title) [ok](b.md#b) [ok](#second-part-two) [web](https://example.com/x)\n" +
		"`[in code](nothing.md)`\n\n```\n[in a block](nothing.md)\n```\n" +
		"[gone](gone.md) [bad anchor](#nothing) [bad anchor](b.md#c) <img src=\"gone.png\">\n"
	if err := os.WriteFile(filepath.Join(dir, "a.md"), []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b.md"), []byte("# B\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var broken []string
	for _, l := range docLinks(md) {
		if checkDocLink(dir, filepath.Join(dir, "a.md"), l.target) != "" {
			broken = append(broken, l.target)
		}
	}
	want := []string{"gone.md", "#nothing", "b.md#c", "gone.png"}
	if strings.Join(broken, " ") != strings.Join(want, " ") {
		t.Errorf("broken links found: %q, want %q", broken, want)
	}
}

type docLink struct {
	line   int
	target string
}

var (
	mdLinkRE   = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	htmlLinkRE = regexp.MustCompile(`(?:src|href)="([^"]+)"`)
	codeSpanRE = regexp.MustCompile("`[^`]*`")
)

// docLinks returns the link targets of a Markdown text, outside code.
func docLinks(md string) []docLink {
	var links []docLink
	inBlock := false
	for i, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inBlock = !inBlock
			continue
		}
		if inBlock {
			continue
		}
		line = codeSpanRE.ReplaceAllString(line, "")
		for _, re := range []*regexp.Regexp{mdLinkRE, htmlLinkRE} {
			for _, m := range re.FindAllStringSubmatch(line, -1) {
				links = append(links, docLink{line: i + 1, target: m[1]})
			}
		}
	}
	return links
}

// checkDocLink says what is wrong with a link of the file from, or "".
func checkDocLink(root, from, target string) string {
	if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
		return ""
	}
	path, frag, _ := strings.Cut(target, "#")
	dest := from
	if path != "" {
		if strings.HasPrefix(path, "/") {
			return "not relative"
		}
		dest = filepath.Join(filepath.Dir(from), filepath.FromSlash(path))
		r, err := filepath.Rel(root, dest)
		if err != nil || strings.HasPrefix(r, "..") {
			return "outside the repository"
		}
		if _, err := os.Stat(dest); err != nil {
			return "no such file"
		}
	}
	if frag == "" {
		return ""
	}
	if !strings.HasSuffix(dest, ".md") {
		return "a fragment of a file that is not Markdown"
	}
	b, err := os.ReadFile(dest)
	if err != nil {
		return err.Error()
	}
	for _, a := range docAnchors(string(b)) {
		if a == frag {
			return ""
		}
	}
	return "no heading with that anchor"
}

// docAnchors returns the anchors GitHub gives the headings of a Markdown
// text: lower case, spaces to hyphens, other punctuation dropped, a repeated
// one numbered.
func docAnchors(md string) []string {
	var anchors []string
	seen := map[string]int{}
	inBlock := false
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inBlock = !inBlock
			continue
		}
		if inBlock || !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var sb strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				sb.WriteRune(r)
			case r == ' ':
				sb.WriteRune('-')
			}
		}
		a := sb.String()
		if n := seen[a]; n > 0 {
			anchors = append(anchors, a+"-"+strconv.Itoa(n))
		} else {
			anchors = append(anchors, a)
		}
		seen[a]++
	}
	return anchors
}
