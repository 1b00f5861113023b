// The review page: groups of proposed merges, decided with the mouse or the keyboard.
// Every tag reaches the screen through textContent, never as HTML. Every change is sent at once with the
// version of review.csv the page shows; the server refuses it when the file changed since.
"use strict";

const TOKEN = document.querySelector('meta[name="review-token"]').content;
// This page load, to the server: undo takes back only what this page did, not another tab's decisions.
const PAGE = Array.from(crypto.getRandomValues(new Uint32Array(4)), (part) => part.toString(36)).join("");
const BATCH = 12; // group cards added at a time, as the reader scrolls
// The filter's value for a probe answer and for a spelling link (flags are cluster_tags' own words).
const PROBE_FILTER = "probe=";
const SPELLED_FILTER = "spelled=";

const view = {
  version: "", groups: [], legend: {}, evidence: [], counts: {},
  search: "", flag: "*", shown: {proposed: 0, near: 0}, lists: {proposed: [], near: []},
  complete: false, // whether the whole list has arrived (the first screen comes before it)
  unreadable: [], // decision cells neither accept nor reject, as the server last named them
  current: null, // id of the pair the keys act on
  samples: new Map(), // group key -> {signature, data}
  queue: Promise.resolve(), // changes are sent one after another, each with the version the last one returned
  bannerAction: null, // what the banner's button does: "review" (read review.csv again) or "page" (load the page again)
};

const $ = (id) => document.getElementById(id);

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// As tagger/tagtext.py's visible(): characters that are invisible or reorder what follows (bidi overrides,
// zero-width, controls, line separators) shown as <U+XXXX>, so "ring\u202egnp.exe" never reads "ringexe.png".
const HIDDEN = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;
function visible(text) {
  return Array.from(String(text), (character) => character !== " " && HIDDEN.test(character)
    ? `<U+${character.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}>` : character).join("");
}

// --- talking to the server ---------------------------------------------------------------------------

async function call(method, path, body) {
  const response = await fetch(path, {
    method, headers: {"X-Review-Token": TOKEN, "X-Review-Page": PAGE, "Content-Type": "application/json"},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let answer = {};
  try { answer = await response.json(); } catch (error) { answer = {error: `${response.status} ${response.statusText}`}; }
  if (!response.ok) {
    if (answer.restarted) { // the page's token is from an earlier run of review.py: only a new page has the new one
      showBanner("The review server was restarted since this page was opened: reload the page (F5) to go on. " +
        "Every decision it answered is in review.csv.", "page");
    } else {
      const text = answer.error || `request failed (${response.status})`;
      showBanner(text, answer.reload ? "review" : null, answer.problems);
    }
    throw new Error(answer.error);
  }
  return answer;
}

function queued(request) {
  // One request at a time, in order: changes, reloads and the whole list. Keys can be faster than the server: a change
  // waits for the one before, so it names the version that one made; a list on its way or a reload cannot overtake
  // a decision (an older list shown over it, a decision sent with the version of a screen it was not made on).
  const sent = view.queue.then(request);
  view.queue = sent.catch(() => {});
  return sent;
}

function change(path, body) {
  return queued(async () => {
    const answer = await call("POST", path, {version: view.version, ...body});
    hideBanner();
    applyAnswer(answer);
    showUnreadable(answer.unreadable);
    return answer;
  });
}

function applyAnswer(answer) {
  view.version = answer.version;
  view.counts = answer;
  const byKey = new Map(view.groups.map((group, index) => [group.key, index]));
  let insertAt = null;
  for (const group of answer.groups) {
    if (byKey.has(group.key)) {
      view.groups[byKey.get(group.key)] = group;
      insertAt = byKey.get(group.key) + 1;
    }
  }
  const added = answer.groups.filter((group) => !byKey.has(group.key));
  for (const group of added) { // a split makes a group: shown right after the one it came from
    const source = view.groups[(insertAt ?? view.groups.length) - 1];
    view.groups.splice(insertAt ?? view.groups.length, 0, group);
    addCardAfter(source, group);
  }
  const removed = new Set(answer.removed);
  const changed = new Map(answer.groups.map((group) => [group.key, group]));
  view.groups = view.groups.filter((group) => !removed.has(group.key));
  for (const list of ["proposed", "near"]) {
    const before = view.lists[list].length;
    // The lists hold the groups as they are now: cards drawn later, and Accept shown, read them.
    view.lists[list] = view.lists[list].filter((group) => !removed.has(group.key))
      .map((group) => changed.get(group.key) ?? group);
    view.shown[list] -= before - view.lists[list].length;
  }
  for (const group of answer.groups) replaceCard(group);
  for (const key of removed) document.querySelector(`[data-group="${CSS.escape(key)}"]`)?.remove();
  renumber();
  renderCounts();
  // aliases.txt no longer holds what the page shows: the Applied list says so rather than pass for current
  $("apply-stale").hidden = $("apply-result").hidden;
}

function loadState(reload = false) {
  // Accept shown / Reject shown wait for it: the whole list is asked for only once the first screen's pictures are
  // in, and a click before that (a fast hand, a loaded machine) was told the list is still loading.
  view.loading = loadLists(reload);
  return view.loading;
}

async function loadLists(reload) {
  // The first screen's groups first, then the whole list (over a megabyte for 5,000 pairs) behind it.
  const first = await queued(() => call(reload ? "POST" : "GET", `${reload ? "/api/reload" : "/api/state"}?first=${BATCH}`));
  showState(first);
  await firstCardShown(1500); // the whole list would compete with the first screen's thumbnails for the server
  const whole = await queued(() => call("GET", "/api/state"));
  if (whole.version !== view.version || view.search || view.flag !== "*") { showState(whole); return; }
  view.groups = whole.groups; // the same groups in the same order, and more: the cards shown stay
  view.complete = true;
  const visible = view.groups.filter(matches);
  view.lists.proposed = visible.filter((group) => !group.near_miss);
  view.lists.near = visible.filter((group) => group.near_miss);
}

function firstCardShown(patience) {
  const waited = new Promise((resolve) => setTimeout(resolve, patience));
  const loaded = (async () => {
    const group = view.lists.proposed[0] || view.lists.near[0];
    if (!group) return;
    await view.samples.get(group.key)?.data.catch(() => {});
    await new Promise((resolve) => requestAnimationFrame(resolve)); // the strips are filled
    const pictures = [...document.querySelector(".group")?.querySelectorAll(".thumbs img") ?? []];
    await Promise.all(pictures.map((picture) => picture.complete ? null
      : new Promise((resolve) => { picture.addEventListener("load", resolve); picture.addEventListener("error", resolve); })));
  })();
  return Promise.race([waited, loaded]);
}

function showUnreadable(unreadable) {
  // Decision cells a spreadsheet user filled with a word that is neither accept nor reject: said at once, and until
  // each is decided, not only when Apply refuses them.
  view.unreadable = unreadable || [];
  if (!view.unreadable.length) return;
  const count = view.unreadable.length;
  const one = count === 1;
  showBanner(`${count} ${one ? "decision" : "decisions"} in review.csv ${one ? "is" : "are"} neither ` +
    "accept nor reject (yes, y, x and 1 accept; no, n and 0 reject), shown as undecided, and Apply would refuse " +
    `${one ? "it" : "them"}: decide here, or correct the cell and read review.csv again.`, "review", view.unreadable);
}

function showState(state) {
  Object.assign(view, {version: state.version, groups: state.groups, legend: state.legend, evidence: state.evidence,
    counts: state, complete: state.complete});
  showUnreadable(state.unreadable);
  view.samples.clear();
  renderLegend();
  renderFlags(state.flags, state.probes || [], state.spellings || []);
  renderCounts();
  renderLists();
}

// --- what is shown -----------------------------------------------------------------------------------

function matches(group) {
  const needle = view.search.trim().toLowerCase();
  const tags = [group.canonical, ...group.rows.map((row) => row.variant)];
  const flagOk = view.flag === "*" || group.rows.some(rowMatchesFilter);
  return flagOk && (!needle || tags.some((tag) => tag.toLowerCase().includes(needle)));
}

function rowMatchesFilter(row) {
  for (const [filter, name] of [[PROBE_FILTER, "probe"], [SPELLED_FILTER, "spelled"]]) {
    if (view.flag.startsWith(filter)) return row.evidence[name] === view.flag.slice(filter.length);
  }
  return view.flag === "" ? !row.flag : row.flag === view.flag;
}

function renderLists() {
  const visible = view.groups.filter(matches);
  view.lists.proposed = visible.filter((group) => !group.near_miss);
  view.lists.near = visible.filter((group) => group.near_miss);
  $("groups").replaceChildren();
  $("near-groups").replaceChildren();
  view.shown = {proposed: 0, near: 0};
  showMore("proposed");
  showMore("near");
  $("near-section").hidden = view.groups.every((group) => !group.near_miss);
  if (!view.lists.proposed.length) {
    $("groups").append(element("p", "empty", view.groups.some((g) => !g.near_miss) ? "No group matches." : "No merges proposed."));
  }
  const pairs = visiblePairs();
  if (!pairs.includes(view.current)) setCurrent(pairs[0] ?? null, false);
  else setCurrent(view.current, false);
}

function showMore(list) {
  const container = list === "proposed" ? $("groups") : $("near-groups");
  const groups = view.lists[list];
  const start = view.shown[list];
  const end = Math.min(groups.length, start + BATCH);
  for (let index = start; index < end; index += 1) container.append(card(groups[index], index + 1));
  view.shown[list] = end;
}

function renderCounts() {
  const c = view.counts;
  $("progress").textContent = `${c.decided} of ${c.total} decided`;
  $("near-progress").textContent = c.near_miss_total ? ` · near misses: ${c.near_miss_decided} of ${c.near_miss_total}` : "";
}

function renderLegend() {
  const list = $("legend");
  list.replaceChildren();
  for (const [name, text] of Object.entries(view.legend.evidence)) {
    list.append(element("dt", "", name), element("dd", "", text));
  }
  for (const line of [view.legend.images, view.legend.both]) {
    const [name, text] = line.split(/:\s*/, 2);
    list.append(element("dt", "", name), element("dd", "", text));
  }
}

function renderFlags(flags, probes, spellings) {
  const select = $("flag-filter");
  const previous = view.flag;
  select.replaceChildren(new Option("every flag", "*"), new Option("no flag", ""));
  for (const flag of flags) select.append(new Option(`flag: ${visible(flag)}`, flag));
  // What the separability probe found ("faint": merges the images could not see), where review.csv has it.
  for (const probe of probes) select.append(new Option(`probe: ${probe}`, PROBE_FILTER + probe));
  // The spelling links ("plural", "typo of a word", "two words"), to review one kind of spelling at a time.
  for (const spelled of spellings) select.append(new Option(`spelled: ${spelled}`, SPELLED_FILTER + spelled));
  view.flag = [...select.options].some((option) => option.value === previous) ? previous : "*";
  select.value = view.flag;
}

function imagesText(count) {
  return count === null || count === undefined ? "" : `${count} ${count === 1 ? "image" : "images"}`;
}

function formatNumber(value) {
  if (typeof value === "string") return value;  // "probe", "spelled": evidence in words
  // Cut, not rounded, as cluster_tags.py shows evidence (tagger.variants.legend.cut): "confidence ≥ 0.46" was false
  // of a 0.455, and a near miss at 0.4996 read as reaching min_score 0.5.
  return value === null || value === undefined ? "–" : (Math.floor((value + 1e-6) * 100) / 100).toFixed(2);
}

function card(group, position) {
  const node = element("article", "group");
  node.dataset.group = group.key;
  const head = element("header", "group-head");
  const title = element("h3");
  title.append(element("span", "position", `${position}.`), element("span", "canonical-name", visible(group.title)));
  head.append(title);
  // The least confident pair's confidence (or score, where review.csv has none): named as what it is.
  const [least, value] = group.confidence !== null ? ["confidence", group.confidence] : ["score", group.score];
  if (value !== null) {
    const chip = element("span", "confidence", `${least} ≥ ${formatNumber(value)}`);
    chip.title = `the lowest ${least} of this group's pairs: ${view.legend.evidence[least] ?? ""}`;
    head.append(chip);
  }
  head.append(canonicalChooser(group));
  if (group.notice) head.append(element("p", "notice", group.notice));
  node.append(head);

  const canonicalRow = element("div", "member canonical-row");
  const label = element("div", "who");
  label.append(element("span", "tag", visible(group.canonical)), element("span", "badge", "canonical"));
  const count = group.rows[0]?.canonical_count;
  label.append(element("span", "count", imagesText(count)));
  canonicalRow.append(label, thumbStrip(group, group.canonical));
  node.append(canonicalRow);
  for (const row of group.rows) node.append(pairRow(group, row));
  loadSamples(group, node);
  return node;
}

function canonicalChooser(group) {
  const form = element("form", "chooser");
  const input = element("input");
  input.name = "canonical";
  input.setAttribute("list", `members-${group.key}`);
  input.placeholder = "pick or type a canonical";
  input.setAttribute("aria-label", `canonical tag of group ${visible(group.canonical)}`);
  const options = element("datalist");
  options.id = `members-${group.key}`;
  for (const tag of new Set([group.canonical, ...group.rows.map((row) => row.variant)])) {
    options.append(new Option(visible(tag), tag));
  }
  const button = element("button", "", "Set canonical");
  button.type = "submit";
  form.append(input, options, button);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.value.trim()) change("/api/canonical", {group: group.key, canonical: input.value}).catch(() => {});
  });
  return form;
}

function pairRow(group, row) {
  const node = element("div", `member pair ${row.decision || "undecided"}`);
  node.dataset.row = row.id;
  node.tabIndex = -1;
  const who = element("div", "who");
  who.append(element("span", "tag", visible(row.variant)));
  who.append(element("span", "count", imagesText(row.variant_count)));
  if (row.flag) who.append(element("span", "flag", visible(row.flag)));
  who.append(evidenceOf(group, row));
  const actions = element("div", "actions");
  for (const [label, decision, key] of [["Accept", "accept", "a"], ["Reject", "reject", "r"]]) {
    const button = element("button", `decide ${decision}`, label);
    button.type = "button";
    button.title = `${label.toLowerCase()} this merge (${key})`;
    button.setAttribute("aria-pressed", String(row.decision === decision));
    button.addEventListener("click", () => {
      setCurrent(row.id, false);
      decide(row, row.decision === decision ? "" : decision);
    });
    actions.append(button);
  }
  if (splittable(group, row)) {
    const split = element("button", "split", "Split out");
    split.type = "button";
    split.title = "take this tag out of the group: its pair is rejected and becomes a group of its own (s)";
    split.addEventListener("click", () => { setCurrent(row.id, false); splitCurrent(); });
    actions.append(split);
  }
  who.append(actions);
  node.append(who, thumbStrip(group, row.variant));
  node.addEventListener("click", (event) => { if (!event.target.closest("button, img")) setCurrent(row.id, false); });
  return node;
}

// Split out is offered where it is more than Reject: a proposed group keeps its other pairs. (Not a near miss,
// not a group's only pair, not the row a typed canonical added.)
function splittable(group, row) {
  return !group.near_miss && !row.typed && group.rows.filter((other) => !other.typed).length > 1;
}

function evidenceOf(group, row) {
  const evidence = element("div", "evidence");
  if (row.typed) { // the old canonical accepted into a typed one: no evidence was ever measured for this pair
    evidence.append(element("span", "note", "typed in review: no evidence measured"));
    return evidence;
  }
  if (row.measured) { // the canonical changed since: these numbers are of the pair cluster_tags measured
    const [tag, other] = row.measured;
    evidence.classList.add("stale");
    const text = tag === row.variant ? `measured vs ${visible(other)}, not ${visible(group.canonical)}`
      : `measured between ${visible(tag)} and ${visible(other)}`;
    evidence.append(element("span", "measured", text));
  }
  for (const name of view.evidence) {
    const chip = element("span", "chip");
    chip.title = `${name}: ${view.legend.evidence[name]}`;
    chip.append(element("span", "name", name), element("span", "value", formatNumber(row.evidence[name])));
    evidence.append(chip);
  }
  return evidence;
}

function thumbStrip(group, tag) {
  const strip = element("div", "thumbs");
  strip.dataset.tag = tag;
  strip.append(element("span", "loading", "images…"));
  return strip;
}

function addCardAfter(source, group) {
  const list = group.near_miss ? "near" : "proposed";
  const node = source && document.querySelector(`[data-group="${CSS.escape(source.key)}"]`);
  const index = view.lists[list].findIndex((shown) => shown.key === source?.key);
  if (!node || index < 0) return; // its card is drawn when the list is (filter, search, scrolling)
  view.lists[list].splice(index + 1, 0, group);
  view.shown[list] += 1;
  node.after(card(group, index + 2));
}

function renumber() { // cards come and go (a split, its undo): each section counts from 1 without gaps
  for (const section of [$("groups"), $("near-groups")]) {
    section.querySelectorAll(".group .position").forEach((label, at) => { label.textContent = `${at + 1}.`; });
  }
}

function replaceCard(group) {
  const old = document.querySelector(`[data-group="${CSS.escape(group.key)}"]`);
  if (!old) return;
  const position = old.querySelector(".position").textContent.replace(".", "");
  old.replaceWith(card(group, Number(position)));
  if (view.current !== null) setCurrent(view.current, false);
}

// --- thumbnails ----------------------------------------------------------------------------------------

// At most a few sample requests at a time, in the order the cards were drawn: the first card's thumbnails
// then start loading before the last card's samples are even asked for.
const waiting = [];
let running = 0;
function limited(task) {
  return new Promise((resolve, reject) => {
    waiting.push(() => task().then(resolve, reject).finally(() => { running -= 1; next(); }));
    next();
  });
}
function next() {
  while (running < 2 && waiting.length) { running += 1; waiting.shift()(); }
}

async function loadSamples(group, node) {
  const signature = JSON.stringify([group.canonical, ...group.rows.map((row) => row.variant)]);
  let cached = view.samples.get(group.key);
  if (!cached || cached.signature !== signature) {
    cached = {signature, data: limited(() => call("GET", `/api/samples?${new URLSearchParams({group: group.key})}`))};
    view.samples.set(group.key, cached);
  }
  let data;
  try { data = await cached.data; } catch (error) { view.samples.delete(group.key); return; }
  for (const strip of node.querySelectorAll(".thumbs")) fillStrip(strip, data.tags[strip.dataset.tag], group.canonical === strip.dataset.tag);
}

function fillStrip(strip, sample, isCanonical) {
  strip.replaceChildren();
  if (!sample || !sample.images.length) { strip.append(element("span", "note", "no images")); return; }
  for (const image of sample.images) {
    const frame = element("button", image.both ? "thumb both" : "thumb");
    frame.type = "button";
    const picture = element("img");
    // The first cards' thumbnails are the first screen: asked for before the ones further down.
    const early = strip.closest(".group") === document.querySelector(".group");
    picture.loading = early ? "eager" : "lazy";
    picture.fetchPriority = early ? "high" : "low";
    picture.width = 96;
    picture.height = 96;
    picture.alt = image.id;
    picture.src = `/api/image?${new URLSearchParams({id: image.id, size: "thumb"})}`;
    frame.title = image.both ? `${image.id} (carries both tags)` : image.id;
    frame.append(picture);
    if (image.both) frame.append(element("span", "both-mark", "both"));
    frame.addEventListener("click", () => openLightbox(image));
    strip.append(frame);
  }
  const other = isCanonical ? "a variant" : "the canonical";
  strip.append(element("span", "note", `${sample.both} of ${sample.count} also carry ${other}`));
}

function openLightbox(image) {
  $("lightbox-image").src = `/api/image?${new URLSearchParams({id: image.id, size: "large"})}`;
  $("lightbox-image").alt = image.id;
  $("lightbox-caption").textContent = image.both ? `${image.id} · carries both tags` : image.id;
  $("lightbox").hidden = false;
}

// --- deciding --------------------------------------------------------------------------------------------

function findRow(id) {
  for (const group of view.groups) for (const row of group.rows) if (row.id === id) return row;
  return null;
}

async function decide(row, decision) {
  await change("/api/decide", {row: row.id, decision}).catch(() => {});
}

function visiblePairs() {
  return [...document.querySelectorAll(".pair")].map((node) => Number(node.dataset.row));
}

function setCurrent(id, scroll = true) {
  document.querySelectorAll(".pair.current").forEach((node) => node.classList.remove("current"));
  view.current = id;
  if (id === null) return;
  const node = document.querySelector(`.pair[data-row="${id}"]`);
  if (!node) return;
  node.classList.add("current");
  if (scroll) node.scrollIntoView({block: "nearest"});
}

function move(step) {
  // Each section draws its cards a batch at a time, and the near misses' first batch is drawn below the
  // proposals' first: past a section's last drawn pair comes its next batch, never the section below.
  const node = document.querySelector(`.pair[data-row="${view.current}"]`);
  const list = node?.closest("#near-groups") ? "near" : "proposed";
  const drawn = (list === "near" ? $("near-groups") : $("groups")).querySelectorAll(".pair");
  if (step > 0 && (!node || node === drawn[drawn.length - 1])) {
    if (view.shown[list] < view.lists[list].length) showMore(list);
    else if (list === "proposed" && !view.complete) return; // the rest of the proposals is on its way: stay
  }
  const pairs = visiblePairs();
  const index = Math.max(0, Math.min(pairs.length - 1, pairs.indexOf(view.current) + step));
  if (pairs.length) setCurrent(pairs[index]);
}

function decideCurrent(decision) {
  const row = findRow(view.current);
  if (!row) return;
  move(1);
  decide(row, decision);
}

function shownUndecided() {
  // The undecided proposed pairs the search and the filter show (not only the cards drawn so far), never a near
  // miss (also in a group a typed canonical made a proposal) nor a typed canonical's row: those are decided one by one.
  return view.lists.proposed.flatMap((group) => group.rows.filter((row) => !row.typed && !row.near_miss &&
    !row.decision && (view.flag === "*" || rowMatchesFilter(row)))).map((row) => row.id);
}

async function decideShown(decision) {
  await view.loading?.catch(() => {}); // the whole list first: the pairs shown are all those it holds
  await queued(async () => {});
  if (!view.complete) { showBanner("the list is still loading: try again in a moment"); return; }
  const rows = shownUndecided();
  if (!rows.length) { showBanner("no undecided proposed pair is shown: change the search or the filter"); return; }
  const filter = $("flag-filter").selectedOptions[0]?.textContent ?? "every flag";
  const search = view.search.trim() ? `, search "${view.search.trim()}"` : "";
  const asked = `${decision === "accept" ? "Accept" : "Reject"} the ${rows.length} undecided proposed ` +
    `${rows.length === 1 ? "pair" : "pairs"} shown (${filter}${search})? Undo takes them all back.`;
  if (!window.confirm(asked)) return;
  await change("/api/decide_many", {rows, decision}).catch(() => {});
}

async function splitCurrent() {
  const row = findRow(view.current);
  if (row) await change("/api/split", {row: row.id}).catch(() => {});
}

function undo() {
  change("/api/undo", {}).then((answer) => { // the cursor goes back to the pair the undone change was about
    const row = answer.undone.find((id) => findRow(id));
    if (row !== undefined) setCurrent(row);
  }).catch(() => {});
}

async function apply() {
  let answer;
  // The decisions already made go in first.
  try { answer = await queued(() => call("POST", "/api/apply", {version: view.version})); } catch (error) { return; }
  hideBanner();
  $("apply-summary").textContent = answer.aliases.length
    ? `${answer.aliases.length} accepted ${answer.aliases.length === 1 ? "merge" : "merges"} written to ${answer.path}.`
    : `No accepted merges: ${answer.path} is empty, the tags stay as they are.`;
  $("next-commands").textContent = answer.next.join("\n");
  $("next-steps").hidden = !answer.next.length;
  const list = $("aliases");
  list.replaceChildren(...answer.aliases.map(([variant, canonical]) =>
    element("li", "", `${visible(variant)} → ${visible(canonical)}`)));
  $("apply-stale").hidden = true;
  $("apply-result").hidden = false;
  $("apply-result").scrollIntoView({block: "nearest"});
}

// --- banner, keys, wiring ----------------------------------------------------------------------------

function showBanner(text, action = null, lines = []) {
  // action: "review" offers to read review.csv again, "page" to load the page again; lines: one refusal each
  $("banner-text").textContent = text;
  $("banner-lines").replaceChildren(...(lines || []).map((line) => element("li", "", line)));
  $("banner-lines").hidden = !lines?.length;
  view.bannerAction = action;
  $("banner-reload").textContent = action === "page" ? "Reload the page" : "Reload review.csv";
  $("banner-reload").hidden = !action;
  $("banner").hidden = false;
}

function bannerReload() {
  if (view.bannerAction === "page") location.reload();
  else loadState(true).then(() => { if (!view.unreadable.length) hideBanner(); }).catch(() => {});
}

function hideBanner() { $("banner").hidden = true; }

function onKey(event) {
  if (event.key === "Escape") { $("lightbox").hidden = true; if (event.target.matches("input")) event.target.blur(); return; }
  if (event.ctrlKey || event.metaKey || event.altKey || event.target.matches("input, select, textarea")) return;
  const actions = {
    j: () => move(1), ArrowDown: () => move(1), k: () => move(-1), ArrowUp: () => move(-1),
    a: () => decideCurrent("accept"), r: () => decideCurrent("reject"), u: undo, z: undo, s: splitCurrent,
    "/": () => $("search").focus(),
    c: () => document.querySelector(`.pair[data-row="${view.current}"]`)?.closest(".group").querySelector(".chooser input").focus(),
  };
  if (actions[event.key]) { event.preventDefault(); actions[event.key](); }
}

function watchScrolling() {
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (entry.isIntersecting) showMore(entry.target.id === "more-groups" ? "proposed" : "near");
    }
  }, {rootMargin: "600px"});
  observer.observe($("more-groups"));
  observer.observe($("more-near"));
}

document.addEventListener("DOMContentLoaded", () => {
  document.addEventListener("keydown", onKey);
  $("search").addEventListener("input", (event) => { view.search = event.target.value; renderLists(); });
  $("flag-filter").addEventListener("change", (event) => { view.flag = event.target.value; renderLists(); });
  $("undo").addEventListener("click", undo);
  $("reload").addEventListener("click", () => loadState(true).then(hideBanner).catch(() => {}));
  $("banner-reload").addEventListener("click", bannerReload);
  $("banner-close").addEventListener("click", hideBanner);
  $("accept-shown").addEventListener("click", () => decideShown("accept"));
  $("reject-shown").addEventListener("click", () => decideShown("reject"));
  $("apply").addEventListener("click", apply);
  $("lightbox").addEventListener("click", () => { $("lightbox").hidden = true; });
  watchScrolling();
  // The sticky top (toolbar and banner) wraps to more lines on a narrow screen: the pair the keys move to
  // scrolls in below it, however tall it is.
  new ResizeObserver(() => document.documentElement.style.setProperty("--top", `${$("top").offsetHeight}px`))
    .observe($("top"));
  // Opened or refreshed, the page reads review.csv as it is on disk now (cluster_tags.py or a spreadsheet may have
  // written it since review.py started); unchanged, nothing is read again.
  loadState(true).then(() => document.body.classList.add("ready")).catch(() => {});
});
