package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// conversation is one LoCoMo file.
type conversation struct {
	file     string
	sessions []session
	qa       []qaItem
}

type session struct {
	date  string
	turns []struct {
		Speaker, DiaID, Text, Caption string
	}
}

type qaItem struct {
	Question string          `json:"question"`
	Evidence []string        `json:"evidence"`
	Category int             `json:"category"`
	Answer   json.RawMessage `json:"answer"`
}

var evidenceID = regexp.MustCompile(`^D\d+:\d+$`)

func readConversation(path string) (*conversation, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, err
	}
	conv := &conversation{file: strings.TrimSuffix(filepath.Base(path), ".json")}
	// Some files nest the sessions under "conversation".
	if inner, ok := top["conversation"]; ok {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(inner, &m); err == nil {
			for k, v := range m {
				top[k] = v
			}
		}
	}
	for n := 1; ; n++ {
		turnsRaw, ok := top["session_"+strconv.Itoa(n)]
		if !ok {
			if _, more := top["session_"+strconv.Itoa(n+1)]; more {
				continue
			}
			break
		}
		var s session
		_ = json.Unmarshal(top["session_"+strconv.Itoa(n)+"_date_time"], &s.date)
		var turns []struct {
			Speaker string `json:"speaker"`
			DiaID   string `json:"dia_id"`
			Text    string `json:"text"`
			Caption string `json:"blip_caption"`
		}
		if err := json.Unmarshal(turnsRaw, &turns); err != nil {
			return nil, fmt.Errorf("%s session %d: %w", path, n, err)
		}
		for _, t := range turns {
			s.turns = append(s.turns, struct{ Speaker, DiaID, Text, Caption string }{t.Speaker, t.DiaID, t.Text, t.Caption})
		}
		conv.sessions = append(conv.sessions, s)
	}
	if err := json.Unmarshal(top["qa"], &conv.qa); err != nil {
		return nil, fmt.Errorf("%s qa: %w", path, err)
	}
	return conv, nil
}

// runLocomo loads each conversation as memories (one per turn, as the datasets README
// describes) and asks each answerable question through /v1/retrieve.
func runLocomo(args []string) error {
	fs, url, key, bin := flags("locomo")
	dir := fs.String("data", "../shared/datasets/locomo-dev", "folder of LoCoMo-format JSON files")
	k := fs.Int("k", 10, "max_memories per query")
	_ = fs.Parse(args)
	files, err := filepath.Glob(filepath.Join(*dir, "*.json"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no JSON files in %s", *dir)
	}
	sort.Strings(files)
	t, err := connect(*url, *key, *bin)
	if err != nil {
		return err
	}
	defer t.stop()

	var items int
	var sum5, sum10 float64
	var lat []time.Duration
	loadStart := time.Now()
	memories := 0
	for _, f := range files {
		conv, err := readConversation(f)
		if err != nil {
			return err
		}
		user := "locomo-" + conv.file
		var batch []map[string]any
		flush := func() error {
			if len(batch) == 0 {
				return nil
			}
			err := t.call("POST", "/v1/batch/memories", map[string]any{"memories": batch}, nil)
			memories += len(batch)
			batch = batch[:0]
			return err
		}
		for _, s := range conv.sessions {
			for _, turn := range s.turns {
				text := fmt.Sprintf("[%s] %s: %s", s.date, turn.Speaker, turn.Text)
				if turn.Caption != "" {
					text += " [shares a photo: " + turn.Caption + "]"
				}
				batch = append(batch, map[string]any{"text": text, "user_id": user, "metadata": map[string]any{"dia_id": turn.DiaID}})
				if len(batch) == 1000 {
					if err := flush(); err != nil {
						return err
					}
				}
			}
		}
		if err := flush(); err != nil {
			return err
		}
	}
	loadTime := time.Since(loadStart)
	perCat := map[int][2]float64{}
	for _, f := range files {
		conv, _ := readConversation(f)
		user := "locomo-" + conv.file
		for _, qa := range conv.qa {
			if qa.Category < 1 || qa.Category > 4 {
				continue
			}
			want := map[string]bool{}
			for _, ev := range qa.Evidence {
				if evidenceID.MatchString(ev) { // a few are malformed: skipped, as the datasets README says
					want[ev] = true
				}
			}
			if len(want) == 0 {
				continue
			}
			var res struct {
				Memories []struct {
					Metadata map[string]any `json:"metadata"`
				} `json:"memories"`
			}
			start := time.Now()
			if err := t.call("POST", "/v1/retrieve", map[string]any{"context": qa.Question, "max_memories": *k, "user_id": user}, &res); err != nil {
				return err
			}
			lat = append(lat, time.Since(start))
			hit5, hit10 := 0, 0
			for i, m := range res.Memories {
				if id, _ := m.Metadata["dia_id"].(string); want[id] {
					if i < 5 {
						hit5++
					}
					if i < 10 {
						hit10++
					}
				}
			}
			r5, r10 := float64(hit5)/float64(len(want)), float64(hit10)/float64(len(want))
			sum5 += r5
			sum10 += r10
			c := perCat[qa.Category]
			perCat[qa.Category] = [2]float64{c[0] + r10, c[1] + 1}
			items++
		}
	}
	p50, p95, p99, pmax := percentiles(lat)
	fmt.Printf("locomo: %d files, %d memories loaded in %s (%.0f memories/s through POST /v1/batch/memories)\n",
		len(files), memories, loadTime.Round(time.Millisecond), float64(memories)/loadTime.Seconds())
	fmt.Printf("items: %d   recall@5: %.3f   recall@10: %.3f\n", items, sum5/float64(items), sum10/float64(items))
	for c := 1; c <= 4; c++ {
		if v := perCat[c]; v[1] > 0 {
			fmt.Printf("  category %d: recall@10 %.3f over %d items\n", c, v[0]/v[1], int(v[1]))
		}
	}
	fmt.Printf("retrieve latency: p50 %s   p95 %s   p99 %s   max %s\n", ms(p50), ms(p95), ms(p99), ms(pmax))
	return nil
}
