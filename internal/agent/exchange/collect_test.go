
// The example in the format documentation must load and mean what it says.
func TestDocumentedExampleLoads(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "exchange-inventory.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```json\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("no json example in docs/exchange-inventory.md")
	}
	inv, err := LoadInventory(strings.NewReader(string(m[1])))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Server.Role() != RoleEdge || len(inv.SendConnectors) != 1 || inv.SendConnectors[0].TlsCertificateName != seedTLSName {
		t.Errorf("example = %+v", inv)
	}
}
