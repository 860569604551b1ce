"""Categories: ordered rules (a regular expression on the app, the window title and/or the
URL) that put activity into a hierarchy such as "Work > Programming".

Precedence: the **first** rule in the list that matches wins. ActivityWatch picks the
deepest matching category instead; we do not, because the dashboard lets people order
the rules, and order is the one precedence a person can see and change: a narrow rule
("YouTube" with "lecture" in the title → "Work > Learning") is put above a broad one
("YouTube" → "Entertainment > Video") whatever their depths. Depth-first would make such
an exception impossible to express when the broad category happens to be deeper.

No rule matches → ``UNCATEGORIZED``. A private activity (the agent's never-capture list
sends app ``"private"`` with no text) is ``PRIVATE``, and time the person paused the agent
(app ``"paused"``) is ``PAUSED``; neither is ever matched on text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Literal

import msgspec

from officepulse.core.reports import colour, hue_colour
from officepulse.errors import OfficepulseError

Field = Literal["app", "title", "url"]
FIELDS: tuple[Field, ...] = ("app", "title", "url")
SEPARATOR = " > "
UNCATEGORIZED = "Uncategorized"
PRIVATE = "Private"
PRIVATE_APP = "private"
PAUSED = "Paused"
PAUSED_APP = "paused"
MAX_RULES = 1_000
MAX_PATTERN = 1_000
MAX_CATEGORY = 200

# What compile_rules accepts, as JSON Schema for the OpenAPI document (documentation only:
# compile_rules checks, and names what is wrong). A category is given there in its
# normal form: parts with no space at either end, no ">" or control character, joined
# by " > " (compile_rules also takes "Work>Docs" and normalises it).
_EDGE = r"[^\s>\u0000-\u001f\u007f-\u009f]"  # a part's first and last character
_INNER = r"[^>\u0000-\u001f\u007f-\u009f]*"
_PART = f"{_EDGE}(?:{_INNER}{_EDGE})?"
CategoryText = Annotated[
    str,
    msgspec.Meta(
        extra_json_schema={"pattern": f"^{_PART}(?: > {_PART})*$", "maxLength": MAX_CATEGORY}
    ),
]
PatternText = Annotated[
    str,
    msgspec.Meta(
        extra_json_schema={"minLength": 1, "maxLength": MAX_PATTERN, "format": "regex"},
        description="a Python regular expression (re), searched anywhere in the text",
    ),
]
Fields = Annotated[
    tuple[Field, ...], msgspec.Meta(extra_json_schema={"minItems": 1, "uniqueItems": True})
]


class Rule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Activity whose ``fields`` match ``pattern`` (Python regular expression, searched
    anywhere in the text) belongs to ``category``, a path like "Work > Programming"."""

    category: CategoryText
    pattern: PatternText
    fields: Fields = FIELDS
    ignore_case: bool = True


class CategoryError(OfficepulseError, ValueError):
    """A rule that cannot be used; the message names the rule (its index in the list,
    from 0) and why. ``index`` is None when the list as a whole is wrong."""

    def __init__(self, index: int | None, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.index = index
        self.reason = reason


def normalize_path(raw: str) -> str:
    """ "Work >Programming " → "Work > Programming"; raises ValueError on an empty part."""
    parts = [p.strip() for p in raw.split(">")]
    if not raw.strip():
        raise ValueError("the category is empty")
    if any(not p for p in parts):
        raise ValueError(f"the category {raw!r} has an empty part")
    return SEPARATOR.join(parts)


def ancestors(path: str) -> list[str]:
    """ "A > B > C" → ["A", "A > B", "A > B > C"]."""
    parts = path.split(SEPARATOR)
    return [SEPARATOR.join(parts[: i + 1]) for i in range(len(parts))]


# The default rules' top-level categories, each a hue of its own: hashed, "Work" and
# "Comms" would be 8 degrees apart (the same green) side by side in the team's bars.
TOP_LEVEL_HUES = {
    "Work": 215,
    "Comms": 145,
    "Entertainment": 350,
    "Social Media": 280,
    "News": 40,
    UNCATEGORIZED: 185,
    PRIVATE: 20,
    PAUSED: 90,
}


def category_colour(path: str) -> str:
    """A category's colour, the same on every page: a hue of its own for the default
    top-level categories, else one from its path as for an app."""
    hue = TOP_LEVEL_HUES.get(path)
    return hue_colour(hue) if hue is not None else colour(path)


@dataclass(frozen=True, slots=True)
class _Compiled:
    category: str
    regex: re.Pattern[str]
    app: bool
    title: bool
    url: bool


@dataclass(slots=True)
class RuleSet:
    """Rules checked and compiled once; ``categorize`` remembers each (app, title, url) it
    has answered, since a history repeats the same few thousand of them."""

    rules: tuple[Rule, ...]
    _compiled: tuple[_Compiled, ...] = field(repr=False)
    _memo: dict[tuple[str, str, str | None], str] = field(default_factory=dict, repr=False)
    _by_app: dict[str, str] = field(default_factory=dict, repr=False)

    def categorize(self, app: str, title: str, url: str | None) -> str:
        key = (app, title, url)
        found = self._memo.get(key)
        if found is not None:
            return found
        category = self._decide(app, title, url)
        if len(self._memo) >= 100_000:  # bounded: a history of unique titles
            self._memo.clear()
        self._memo[key] = category
        return category

    def categorize_app(self, app: str) -> str:
        """The category the app alone gives: the first rule that looks at the app and
        matches it; rules on titles and URLs play no part. What others see of the time
        of a person who shows them the app only (security/visibility.py), since a rule on
        their titles or URLs would tell what those are."""
        if app == PRIVATE_APP:
            return PRIVATE
        if app == PAUSED_APP:
            return PAUSED
        found = self._by_app.get(app)
        if found is None:
            found = next(
                (r.category for r in self._compiled if r.app and r.regex.search(app)), None
            )
            found = found or UNCATEGORIZED
            if len(self._by_app) >= 100_000:
                self._by_app.clear()
            self._by_app[app] = found
        return found

    def categorize_url(self, url: str) -> str:
        """The category the URL alone gives (the first rule that looks at URLs and
        matches it), UNCATEGORIZED if none does."""
        for rule in self._compiled:
            if rule.url and rule.regex.search(url):
                return rule.category
        return UNCATEGORIZED

    def _decide(self, app: str, title: str, url: str | None) -> str:
        if app == PRIVATE_APP:
            return PRIVATE
        if app == PAUSED_APP:
            return PAUSED
        for rule in self._compiled:
            search = rule.regex.search
            if (
                (rule.app and search(app))
                or (rule.title and search(title))
                or (rule.url and url is not None and search(url))
            ):
                return rule.category
        return UNCATEGORIZED


def compile_rules(rules: Sequence[Rule]) -> RuleSet:
    """Check every rule and compile it; raises CategoryError naming the first bad one."""
    if len(rules) > MAX_RULES:
        raise CategoryError(
            None, "the list", f"there are {len(rules)} rules; at most {MAX_RULES} are allowed"
        )
    kept: list[Rule] = []
    compiled: list[_Compiled] = []
    for i, rule in enumerate(rules):
        where = f"rule {i} ({rule.category!r})" if rule.category.strip() else f"rule {i}"
        try:
            category = normalize_path(rule.category)
        except ValueError as exc:
            raise CategoryError(i, where, f"{exc}") from None
        if any(ord(c) < 32 or ord(c) == 127 for c in category):
            # Shown on dashboards and stored in every span row (PostgreSQL text takes no NUL).
            raise CategoryError(i, where, "the category contains a control character")
        if len(category) > MAX_CATEGORY:
            raise CategoryError(i, where, f"the category is longer than {MAX_CATEGORY} characters")
        if not rule.fields:
            raise CategoryError(i, where, "'fields' is empty; name one or more of app, title, url")
        for name in rule.fields:
            if name not in FIELDS:
                raise CategoryError(
                    i, where, f"unknown field {name!r}; use one or more of app, title, url"
                )
        if len(set(rule.fields)) != len(rule.fields):
            raise CategoryError(i, where, f"a field is named twice in {list(rule.fields)}")
        if not rule.pattern:
            raise CategoryError(i, where, "the pattern is empty (it would match everything)")
        if len(rule.pattern) > MAX_PATTERN:
            raise CategoryError(i, where, f"the pattern is longer than {MAX_PATTERN} characters")
        try:
            regex = re.compile(rule.pattern, re.IGNORECASE if rule.ignore_case else 0)
        except (re.error, OverflowError, RecursionError) as exc:
            # re raises OverflowError for a repeat count past its limit ("a{99999999999}")
            # and RecursionError for deep nesting: the pattern's fault too, not the server's.
            why = "it nests too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise CategoryError(
                i, where, f"bad regular expression {rule.pattern[:80]!r}: {why}"
            ) from None
        kept.append(
            Rule(
                category=category,
                pattern=rule.pattern,
                fields=rule.fields,
                ignore_case=rule.ignore_case,
            )
        )
        compiled.append(
            _Compiled(
                category, regex, "app" in rule.fields, "title" in rule.fields, "url" in rule.fields
            )
        )
    return RuleSet(tuple(kept), tuple(compiled))


_rules_decoder = msgspec.json.Decoder(list[Rule])
_rules_encoder = msgspec.json.Encoder()


def rules_to_json(rules: Sequence[Rule]) -> str:
    return _rules_encoder.encode(list(rules)).decode()


def rules_from_json(text: str | bytes) -> list[Rule]:
    return _rules_decoder.decode(text)


def _r(category: str, pattern: str, *fields: Field) -> Rule:
    return Rule(category=category, pattern=pattern, fields=fields or FIELDS)


# Apps first (matched on the app name only, so that an editor with "youtube.py" open is
# still programming), then the web (browser tabs by URL, or by title where the agent
# cannot read the URL). Names cover Linux WM_CLASS, macOS and Windows spellings.
DEFAULT_RULES: tuple[Rule, ...] = (
    _r(
        "Work > Programming",
        r"^(code|code-oss|vscodium|cursor|zed|jetbrains-.*|pycharm.*|idea.*|intellij.*|"
        r"webstorm|goland|clion|rider|phpstorm|rubymine|android studio|xcode|"
        r"sublime[_ -]?text|subl|emacs|gvim|vim|nvim|neovim|neovide|kate|kdevelop|"
        r"qtcreator|eclipse|netbeans|gitk|git-gui|github desktop|gitkraken|dbeaver|"
        r"postman|insomnia)$",
        "app",
    ),
    _r(
        "Work > Programming > Terminal",
        r"^(xterm|uxterm|urxvt|rxvt|gnome-terminal.*|org\.gnome\.terminal|konsole|"
        r"alacritty|kitty|wezterm.*|foot|footclient|terminator|tilix|terminal|iterm2?|"
        r"windowsterminal|windows terminal|cmd|powershell|st|st-256color|ghostty|"
        r"xfce4-terminal|mate-terminal|lxterminal|guake|yakuake|hyper|warp)$",
        "app",
    ),
    _r(
        "Work > Docs",
        r"^(libreoffice.*|soffice|winword|microsoft word|excel|microsoft excel|powerpnt|"
        r"microsoft powerpoint|pages|numbers|keynote|onlyoffice.*|wps|evince|okular|"
        r"zathura|acroread|acrobat.*|adobe acrobat.*|preview|obsidian|notion|logseq|"
        r"joplin|typora|zotero|onenote|calibre)$",
        "app",
    ),
    _r(
        "Work > Design",
        r"^(figma.*|gimp.*|inkscape|krita|blender|darktable|photoshop|adobe photoshop.*|"
        r"illustrator|adobe illustrator.*|sketch|affinity.*|pixelmator.*|scribus|"
        r"freecad|kicad|drawio|draw\.io)$",
        "app",
    ),
    _r(
        "Comms > Email",
        r"^(thunderbird.*|betterbird|evolution|geary|kmail|mailspring|outlook|"
        r"microsoft outlook|mail|apple mail|mutt|neomutt|aerc|spark)$",
        "app",
    ),
    _r(
        "Comms > Meetings",
        r"^(zoom|zoom\.us|zoom workplace|webex|cisco webex.*|jitsi.*|skype.*|gotomeeting|"
        r"bluejeans)$",
        "app",
    ),
    # Teams is chat and meetings in one app: its meeting and call windows say so.
    _r("Comms > Meetings", r"^(Meeting|Call)\b.*\| Microsoft Teams", "title"),
    _r(
        "Comms > Chat",
        r"^(slack|discord|teams|ms-teams|microsoft teams.*|teams-for-linux|mattermost|"
        r"element|signal|telegram.*|telegramdesktop|whatsapp|zulip|rocket\.chat|"
        r"hexchat|weechat|irssi|pidgin|messages)$",
        "app",
    ),
    _r(
        "Entertainment > Video",
        r"^(vlc|mpv|totem|celluloid|smplayer|kodi|iina|quicktime player|tv|"
        r"netflix|plex|jellyfin.*|mplayer|haruna|dragon)$",
        "app",
    ),
    _r(
        "Entertainment > Music",
        r"^(spotify|rhythmbox|lollypop|clementine|strawberry|audacious|elisa|"
        r"amarok|music|itunes|deadbeef|cmus|tidal|deezer|foobar2000)$",
        "app",
    ),
    _r(
        "Entertainment > Games",
        r"^(steam.*|steamwebhelper|lutris|heroic|minecraft.*|epicgameslauncher|"
        r"battle\.net|gog galaxy|retroarch|dolphin-emu|itch)$",
        "app",
    ),
    # The web: URLs where the agent reads them, page titles where it cannot.
    _r(
        "Work > Programming",
        r"(^https?://([^/]+\.)?(github\.com|gitlab\.com|bitbucket\.org|stackoverflow\.com|"
        r"stackexchange\.com|docs\.python\.org|developer\.mozilla\.org|pypi\.org|npmjs\.com|"
        r"crates\.io|docs\.rs|localhost|127\.0\.0\.1)([:/]|$))",
        "url",
    ),
    _r("Work > Programming", r"( · GitHub| · GitLab| - Stack Overflow)\b", "title"),
    _r(
        "Work > Docs",
        r"^https?://(docs\.google\.com|([^/]+\.)?notion\.so|([^/]+\.)?atlassian\.net|"
        r"([^/]+\.)?sharepoint\.com|www\.overleaf\.com)/",
        "url",
    ),
    _r("Work > Docs", r" - (Google Docs|Google Sheets|Google Slides|Confluence)\b", "title"),
    _r("Work > Design", r"^https?://(www\.)?(figma\.com|canva\.com|miro\.com)/", "url"),
    _r(
        "Comms > Email",
        r"^https?://(mail\.google\.com|outlook\.(live|office|office365)\.com|"
        r"mail\.proton\.me|app\.fastmail\.com)/",
        "url",
    ),
    _r("Comms > Email", r"( - Gmail| - Outlook| \| Proton Mail)\b", "title"),
    _r(
        "Comms > Meetings",
        r"^https?://(meet\.google\.com|([^/]+\.)?zoom\.us|meet\.jit\.si|([^/]+\.)?webex\.com|"
        r"teams\.microsoft\.com/.*meetup-join)/",
        "url",
    ),
    _r("Comms > Meetings", r"^(Meet - |Zoom Meeting\b)|\bGoogle Meet\b", "title"),
    _r(
        "Comms > Chat",
        r"^https?://(app\.slack\.com|([^/]+\.)?slack\.com|discord\.com|teams\.microsoft\.com|"
        r"web\.whatsapp\.com|web\.telegram\.org|app\.element\.io)/",
        "url",
    ),
    _r("Comms > Chat", r"( - Slack| \| Discord| \| Microsoft Teams| - WhatsApp)\b", "title"),
    _r(
        "Entertainment > Video",
        r"^https?://([^/]+\.)?(youtube\.com|youtu\.be|netflix\.com|twitch\.tv|vimeo\.com|"
        r"primevideo\.com|disneyplus\.com|hulu\.com|max\.com|dailymotion\.com|crunchyroll\.com)/",
        "url",
    ),
    _r(
        "Entertainment > Video", r"\b(YouTube|Netflix|Twitch|Vimeo|Prime Video|Disney\+)\b", "title"
    ),
    _r(
        "Entertainment > Music",
        r"^https?://(open\.spotify\.com|soundcloud\.com|music\.youtube\.com|"
        r"([^/]+\.)?bandcamp\.com|music\.apple\.com|([^/]+\.)?deezer\.com)/",
        "url",
    ),
    _r("Entertainment > Music", r"\b(Spotify|SoundCloud|Bandcamp)\b", "title"),
    _r(
        "Entertainment > Games",
        r"^https?://([^/]+\.)?(store\.steampowered\.com|itch\.io|chess\.com|lichess\.org)/",
        "url",
    ),
    _r(
        "Social Media",
        r"^https?://([^/]+\.)?(facebook\.com|instagram\.com|twitter\.com|x\.com|reddit\.com|"
        r"tiktok\.com|linkedin\.com|mastodon\.social|bsky\.app|threads\.net|pinterest\.com|"
        r"tumblr\.com)/",
        "url",
    ),
    _r(
        "Social Media",
        r"( / X$| / Twitter$|\bFacebook\b|\bInstagram\b|\bReddit\b|\bTikTok\b|\| LinkedIn\b|"
        r"\bBluesky\b|\bMastodon\b)",
        "title",
    ),
    _r(
        "News",
        r"^https?://([^/]+\.)?(news\.ycombinator\.com|bbc\.co\.uk|bbc\.com|cnn\.com|"
        r"nytimes\.com|theguardian\.com|reuters\.com|apnews\.com|washingtonpost\.com|"
        r"lemonde\.fr|spiegel\.de|elpais\.com|aljazeera\.com|news\.google\.com|"
        r"economist\.com|ft\.com|bloomberg\.com)/",
        "url",
    ),
    _r(
        "News",
        r"(\| Hacker News\b|\bBBC News\b|\bCNN\b|The New York Times|\| The Guardian|"
        r"\bReuters\b|\bGoogle News\b)",
        "title",
    ),
)


def default_rules() -> list[Rule]:
    return list(DEFAULT_RULES)


# -- the hierarchy -----------------------------------------------------------------------


@dataclass
class CategoryNode:
    """A category with the time put in it exactly (``own``) and in it or any
    sub-category (``total``), active and idle apart."""

    name: str  # the last part: "Programming"
    path: str  # the whole path: "Work > Programming"
    own_ms: int = 0
    own_idle_ms: int = 0
    total_ms: int = 0
    total_idle_ms: int = 0
    children: list[CategoryNode] = field(default_factory=list)


def category_tree(rows: Iterable[tuple[str, int, int]]) -> list[CategoryNode]:
    """(category path, active ms, idle ms) rows (several per path allowed: e.g. usage
    grouped by agent and category) → the top-level categories, each with its
    sub-categories; "Work" totals "Work > Programming", "Work > Docs" and what was
    categorised exactly "Work". Siblings are ordered by active total, largest first."""
    nodes: dict[str, CategoryNode] = {}
    roots: list[CategoryNode] = []

    def node(path: str) -> CategoryNode:
        found = nodes.get(path)
        if found is None:
            found = nodes[path] = CategoryNode(path.rsplit(SEPARATOR, 1)[-1], path)
            parent = path.rsplit(SEPARATOR, 1)[0] if SEPARATOR in path else None
            (node(parent).children if parent is not None else roots).append(found)
        return found

    for path, active_ms, idle_ms in rows:
        own = node(path)
        own.own_ms += active_ms
        own.own_idle_ms += idle_ms
        for prefix in ancestors(path):
            up = nodes[prefix]
            up.total_ms += active_ms
            up.total_idle_ms += idle_ms

    def order(level: list[CategoryNode]) -> None:
        level.sort(key=lambda n: (-n.total_ms, -n.total_idle_ms, n.name))
        for n in level:
            order(n.children)

    order(roots)
    return roots
