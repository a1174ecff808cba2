package dowser

import "strings"

// TerritoryRule sends the alerts of accounts without an owner to a rep:
// the first rule, by Priority (lowest first) then ID, whose non-empty
// attributes all equal the account's, ignoring case.
type TerritoryRule struct {
	ID       string `json:"id"`
	Priority int    `json:"priority"`
	Region   string `json:"region"`
	Industry string `json:"industry"`
	Size     string `json:"size"`
	RepID    string `json:"rep"`
}

// Validate checks every field of the rule (a rep is required); a
// [Problems] names every field refused. That the rep is a user who may
// own it is the caller's to check ([CheckOwner]).
func (r TerritoryRule) Validate() error {
	p := checkFields(KindTerritoryRules, "id", r.ID)
	p.Add(CheckInt32("priority", int64(r.Priority)))
	p = append(p, checkFields(KindTerritoryRules, "rep", r.RepID, "region", r.Region, "industry", r.Industry, "size", r.Size)...)
	return p.Err()
}

// Matches reports whether every attribute the rule sets equals the
// account's, ignoring case. A rule that sets none matches every account.
func (r TerritoryRule) Matches(a Account) bool {
	eq := func(rule, have string) bool { return rule == "" || strings.EqualFold(rule, have) }
	return eq(r.Region, a.Region) && eq(r.Industry, a.Industry) && eq(r.Size, a.Size)
}
