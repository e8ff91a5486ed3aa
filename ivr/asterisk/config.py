"""Generate every Asterisk config file: pure (settings, agent phones, database queues in; {filename: text} out).

Nothing here touches the disk or the network, so the whole Asterisk configuration is unit-testable. The
dialplan is documented in docs/dialplan.md; keep the two in step.

Rules the generated config keeps: HTTP/ARI listen on 127.0.0.1 only; nothing binds 0.0.0.0/[::]; modules that
open other sockets or talk to outside services are not loaded; a call whose Stasis app is missing (our
service down) or that our code hands back continues in the dialplan fallback and is never just dropped.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Sequence
from urllib.parse import urlsplit

from ivr.asterisk.queues import (FALLBACK_QUEUE, QueueSpec, describe, pick_queue_steps, plan_queues,
                                 queue_sections, ring_limit_seconds)
from ivr.settings import Settings

__all__ = ["AgentPhone", "ConfigError", "Layout", "QueueSpec", "SipTimers", "generate", "ring_limit_seconds"]

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
# Modules that would open sockets beyond our loopback transports or talk to outside services.
NOLOAD = (
    "chan_iax2.so", "chan_unistim.so", "chan_motif.so", "chan_console.so", "chan_skinny.so", "chan_mgcp.so",
    "chan_ooh323.so", "chan_mobile.so", "chan_dahdi.so", "pbx_dundi.so", "res_xmpp.so", "res_hep.so",
    "res_hep_pjsip.so", "res_hep_rtcp.so", "res_snmp.so", "res_statsd.so", "res_prometheus.so",
    "res_phoneprov.so", "res_pjsip_phoneprov_provider.so", "res_stun_monitor.so", "res_stir_shaken.so",
    "res_pjsip_stir_shaken.so", "res_resolver_unbound.so", "cdr_radius.so", "cel_radius.so",
    "res_calendar.so", "res_calendar_caldav.so", "res_calendar_ews.so", "res_calendar_exchange.so",
    "res_calendar_icalendar.so", "res_config_ldap.so", "res_config_pgsql.so", "res_config_odbc.so",
    "res_config_mysql.so", "cdr_pgsql.so", "cel_pgsql.so", "cdr_tds.so", "cel_tds.so", "cdr_odbc.so",
    "cel_odbc.so", "app_voicemail_odbc.so", "app_voicemail_imap.so", "app_jack.so", "res_corosync.so",
    "res_pjsip_outbound_registration.so", "res_pjsip_outbound_publish.so", "res_aeap.so",
    "res_speech_aeap.so",
)
FALLBACK_REASONS = ("stasis_failed", "app_requested", "agi_failed", "lookup", "lookup_queue", "agi_queue",
                    "direct")


class ConfigError(Exception):
    """Settings that cannot become a safe Asterisk config; str() names the setting."""


@dataclass(frozen=True)
class AgentPhone:
    """One agent's SIP phone: a PJSIP endpoint + aor + auth named `endpoint`.

    `contact` is a static contact (e.g. sip:agent-1001@127.0.0.1:5071) so a test UAS can play the phone
    without registering; real softphones register with `endpoint`/`password` instead. `skills` (the agent's
    in the database) decide which app_queue queues the phone is a member of; every phone is in the fallback.
    """

    endpoint: str
    password: str
    contact: str | None = None
    skills: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class SipTimers:
    """pjsip's transaction timers ([system] timer_t1 / timer_b, ms); None in generate() keeps Asterisk's.

    Test instances shorten them: an INVITE to an agent contact where nothing listens is retransmitted until
    Timer B (32 s by default), and a later test's UAS on that port would take the stale call.
    """

    t1_ms: int = 500
    timer_b_ms: int = 32000


@dataclass(frozen=True)
class Layout:
    """An instance's directories as Asterisk sees them (inside the chroot for the sandbox)."""

    name: str
    home: PurePosixPath

    @property
    def etc(self) -> PurePosixPath:
        return self.home / "etc"

    @property
    def run(self) -> PurePosixPath:
        return self.home / "run"

    @property
    def log(self) -> PurePosixPath:
        return self.home / "log"

    @property
    def spool(self) -> PurePosixPath:
        return self.home / "spool"

    @property
    def lib(self) -> PurePosixPath:
        return self.home / "lib"

    @property
    def cache(self) -> PurePosixPath:
        return self.home / "cache"

    @property
    def data(self) -> PurePosixPath:
        # astdatadir: symlinks to the packaged data dir, except sounds/, so each instance has its own
        # sounds/hotline (our prompts) next to the packaged languages.
        return self.home / "data"

    @property
    def sounds(self) -> PurePosixPath:
        """Asterisk's sounds dir for this instance: `sound:hotline/zh/gas/x` is <sounds>/hotline/zh/gas/x."""
        return self.data / "sounds"

    @property
    def prompts(self) -> PurePosixPath:
        return self.sounds / "hotline"

    @property
    def moh(self) -> PurePosixPath:
        return self.home / "moh"

    @property
    def recordings(self) -> PurePosixPath:
        # ARI's stored recordings live in <astspooldir>/recording; the fallback's messages go there too.
        return self.spool / "recording"

    @property
    def config_file(self) -> PurePosixPath:
        return self.etc / "asterisk.conf"

    def dirs(self) -> tuple[PurePosixPath, ...]:
        return (self.etc, self.run, self.log, self.spool, self.recordings, self.lib, self.cache, self.data,
                self.sounds, self.prompts, self.moh)


def entity_id(name: str) -> str:
    """A stable, locally administered MAC-style id per instance: tells our instance from another on a port."""
    digest = hashlib.sha256(name.encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02, *digest[:5]))


def ari_port(settings: Settings) -> int:
    url = urlsplit(settings.asterisk.ari_url)
    host = url.hostname or ""
    if not _is_loopback(host):
        raise ConfigError(f"asterisk.ari_url = {settings.asterisk.ari_url!r}: the generated Asterisk serves "
                          "HTTP/ARI on 127.0.0.1 only; use http://127.0.0.1:<port>")
    if url.scheme != "http":
        raise ConfigError("asterisk.ari_url: the generated Asterisk serves plain http on 127.0.0.1")
    return url.port or 80


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_value(what: str, value: str) -> str:
    # ';' starts a comment in Asterisk config files and a line break would inject a new setting.
    if not value or any(c in value for c in ";\n\r[]"):
        raise ConfigError(f"{what}: must be non-empty and contain no ';', '[', ']' or line breaks")
    return value


def _validate(settings: Settings, agents: Sequence[AgentPhone], sip_timers: SipTimers | None) -> None:
    a = settings.asterisk
    # Asterisk would silently raise either value (T1 >= 100 ms, Timer B >= 64 x T1): say so instead.
    if sip_timers is not None and not (100 <= sip_timers.t1_ms and 64 * sip_timers.t1_ms <= sip_timers.timer_b_ms):
        raise ConfigError(f"SIP timers {sip_timers}: pjsip needs timer_t1 >= 100 ms and timer_b >= 64 x timer_t1")
    if not NAME_RE.match(a.app):
        raise ConfigError(f"asterisk.app = {a.app!r}: use letters, digits, '-', '_', '.'")
    if not NAME_RE.match(a.ari_user):
        raise ConfigError(f"asterisk.ari_user = {a.ari_user!r}: use letters, digits, '-', '_', '.'")
    _check_value("asterisk.ari_password", a.ari_password)
    if not re.match(r"^[0-9A-Za-z*#+]+$", a.inbound_extension):
        raise ConfigError(f"asterisk.inbound_extension = {a.inbound_extension!r}: digits only")
    if a.rtp_end <= a.rtp_start:
        raise ConfigError(f"asterisk.rtp_end ({a.rtp_end}) must be above asterisk.rtp_start ({a.rtp_start})")
    try:
        sip_ip = ipaddress.ip_address(a.sip_host)
    except ValueError:
        raise ConfigError(f"asterisk.sip_host = {a.sip_host!r}: an IP address to bind SIP to") from None
    if sip_ip.is_unspecified:
        raise ConfigError("asterisk.sip_host: bind SIP to one address (127.0.0.1 or a LAN address), "
                          "never 0.0.0.0 or ::")
    if not re.match(r"^[a-z][a-z0-9][a-z0-9_-]*$", settings.hotline.flow):
        raise ConfigError(f"hotline.flow = {settings.hotline.flow!r}: two or more lower-case letters, digits, "
                          "'-', '_', starting with a letter")
    _check_value("asterisk.inbound_match", a.inbound_match)
    seen: set[str] = set()
    for ag in agents:
        if not NAME_RE.match(ag.endpoint) or ag.endpoint.startswith("hotline-"):
            raise ConfigError(f"agent endpoint {ag.endpoint!r}: letters, digits, '-', '_', '.'; "
                              "'hotline-' is reserved")
        if ag.endpoint in seen:
            raise ConfigError(f"agent endpoint {ag.endpoint!r} listed twice")
        seen.add(ag.endpoint)
        _check_value(f"password of {ag.endpoint}", ag.password)
        if ag.contact is not None and not re.match(r"^sips?:[^\s;,]+$", ag.contact):
            raise ConfigError(f"contact of {ag.endpoint}: {ag.contact!r} is not a sip: URI")


def _ini(sections: Sequence[tuple[str, Sequence[tuple[str, object]]]], header: str) -> str:
    out = [f"; {header}", "; generated by hotline (ivr/asterisk/config.py): edit hotline.toml, not this file", ""]
    for name, items in sections:
        out.append(f"[{name}]")
        out += [f"{k} = {v}" for k, v in items]
        out.append("")
    return "\n".join(out)


def asterisk_conf(layout: Layout) -> str:
    dirs = [("astetcdir", layout.etc), ("astdatadir", layout.data), ("astvarlibdir", layout.lib), ("astdbdir", layout.lib),
            ("astkeydir", layout.lib), ("astspooldir", layout.spool), ("astrundir", layout.run),
            ("astlogdir", layout.log), ("astcachedir", layout.cache)]
    opts = [("verbose", 3), ("defaultlanguage", "en"), ("documentation_language", "en_US"),
            ("entityid", entity_id(layout.name)),  # also avoids "No ethernet interface found" without NICs
            ("systemname", layout.name), ("hideconnect", "yes")]
    # asterisk.conf uses '=>' in [directories]; both forms parse, keep the documented one.
    text = [f"; asterisk.conf of instance {layout.name}", "; generated by hotline (ivr/asterisk/config.py)", "",
            "[directories]"]
    text += [f"{k} => {v}" for k, v in dirs]
    text += ["", "[options]"] + [f"{k} = {v}" for k, v in opts] + [""]
    return "\n".join(text)


def modules_conf() -> str:
    lines = ["; modules.conf: autoload, minus anything that opens non-loopback sockets or calls out", "",
             "[modules]", "autoload = yes"]
    lines += [f"noload => {m}" for m in NOLOAD]
    return "\n".join(lines) + "\n"


def logger_conf() -> str:
    return _ini([("general", [("dateformat", "%F %T.%3q")]),
                 ("logfiles", [("console", "notice,warning,error,verbose"),
                               ("messages.log", "notice,warning,error,verbose,dtmf")])], "logger.conf")


def http_conf(settings: Settings) -> str:
    return _ini([("general", [("enabled", "yes"), ("bindaddr", "127.0.0.1"), ("bindport", ari_port(settings)),
                              ("tlsenable", "no"), ("servername", "hotline")])], "http.conf (loopback only)")


def ari_conf(settings: Settings) -> str:
    a = settings.asterisk
    return _ini([("general", [("enabled", "yes"), ("pretty", "no"),
                              ("allowed_origins", f"http://127.0.0.1:{ari_port(settings)}")]),
                 (a.ari_user, [("type", "user"), ("read_only", "no"), ("password", a.ari_password),
                               ("password_format", "plain")])], "ari.conf")


def _media(settings: Settings) -> list[tuple[str, object]]:
    return [("disallow", "all"), ("allow", "alaw,ulaw"), ("direct_media", "no"), ("rtp_symmetric", "yes"),
            ("force_rport", "yes"), ("rewrite_contact", "yes"), ("media_address", settings.asterisk.sip_host),
            ("bind_rtp_to_media_address", "yes"), ("dtmf_mode", "rfc4733"), ("ice_support", "no")]


def pjsip_conf(settings: Settings, agents: Sequence[AgentPhone], sip_timers: SipTimers | None = None) -> str:
    a = settings.asterisk
    host = f"[{a.sip_host}]" if ":" in a.sip_host else a.sip_host
    sections: list[tuple[str, Sequence[tuple[str, object]]]] = []
    if sip_timers is not None:
        sections.append(("system", [("type", "system"), ("timer_t1", sip_timers.t1_ms),
                                    ("timer_b", sip_timers.timer_b_ms)]))
    sections += [
        # username before ip: an agent phone on 127.0.0.1 must be its endpoint (with auth), not a caller.
        ("global", [("type", "global"), ("endpoint_identifier_order", "username,ip,anonymous"),
                    ("user_agent", "hotline-asterisk")]),
        ("transport-udp", [("type", "transport"), ("protocol", "udp"), ("bind", f"{host}:{a.sip_port}")]),
        ("hotline-caller", [("type", "endpoint"), ("transport", "transport-udp"), ("context", "hotline-inbound"),
                            *_media(settings)]),
        ("hotline-caller-identify", [("type", "identify"), ("endpoint", "hotline-caller"),
                                     ("match", a.inbound_match)]),
    ]
    for ag in agents:
        sections.append((ag.endpoint, [("type", "endpoint"), ("transport", "transport-udp"),
                                       ("context", "hotline-agents"), ("auth", f"{ag.endpoint}-auth"),
                                       ("aors", ag.endpoint), ("callerid", f"\"{ag.endpoint}\" <{ag.endpoint}>"),
                                       *_media(settings)]))
        sections.append((f"{ag.endpoint}-auth", [("type", "auth"), ("auth_type", "userpass"),
                                                 ("username", ag.endpoint), ("password", ag.password)]))
        aor: list[tuple[str, object]] = [("type", "aor"), ("max_contacts", 1), ("remove_existing", "yes"),
                                         ("qualify_frequency", 0)]
        if ag.contact:
            aor.append(("contact", ag.contact))
        sections.append((ag.endpoint, aor))
    return _ini(sections, "pjsip.conf (one UDP transport; callers by IP, agents by username + password)")


def rtp_conf(settings: Settings) -> str:
    return _ini([("general", [("rtpstart", settings.asterisk.rtp_start), ("rtpend", settings.asterisk.rtp_end),
                              ("icesupport", "no"), ("strictrtp", "yes")])], "rtp.conf")


def indications_conf(settings: Settings) -> str:
    on_ms = round(settings.ring.on_seconds * 1000)
    off_ms = round(settings.ring.off_seconds * 1000)
    ring = f"450/{on_ms},0/{off_ms}" if off_ms else "450"
    return _ini([("general", [("country", "cn")]),
                 ("cn", [("description", "China"), ("ringcadence", f"{on_ms},{off_ms}" if off_ms else on_ms),
                         ("dial", "450"), ("busy", "450/350,0/350"), ("ring", ring),
                         ("congestion", "450/700,0/700"), ("callwaiting", "450/400,0/4000"),
                         ("dialrecall", "450"), ("record", "950/400,0/10000"),
                         ("info", "450/100,0/100,450/100,0/100,450/100,0/100,450/400,0/400"),
                         ("stutter", "450+425")])],
                "indications.conf (China: 450 Hz, cadence from [ring])")


def musiconhold_conf(layout: Layout) -> str:
    return _ini([("default", [("mode", "files"), ("directory", layout.moh), ("sort", "alpha")])],
                "musiconhold.conf (the instance writer puts a generated hold tune in the directory)")


def queues_conf(settings: Settings, agents: Sequence[AgentPhone], queues: Sequence[QueueSpec]) -> str:
    plan = plan_queues(queues, agents)
    head = "queues.conf (app_queue: the fallback queue + one per database queue, see ivr/asterisk/queues.py)"
    text = _ini(queue_sections(settings, agents, plan), head)
    notes = "".join(f"; {line}\n" for line in describe(plan))
    header, generated, rest = text.split("\n", 2)
    return f"{header}\n{generated}; queues and their agents come from the database\n{notes}{rest}"


def _ext(lines: list[str], exten: str, steps: Sequence[str]) -> None:
    lines.append(f"exten => {exten},1,{steps[0]}")
    lines += [f" same => {s}" if s.startswith("n(") else f" same => n,{s}" for s in steps[1:]]


def extensions_conf(settings: Settings, layout: Layout) -> str:
    a, agi = settings.asterisk, settings.agi
    agi_base = f"agi://{agi.host}:{agi.port}"
    # Our prompts as the prompt builder lays them out: <sounds>/hotline/<lang>/<flow or fallback>/<id>.wav
    prompts = f"hotline/{settings.hotline.language}"
    wait = a.fallback_wait_seconds
    lines = ["; extensions.conf: the hotline dialplan, documented in docs/dialplan.md",
             "; generated by hotline (ivr/asterisk/config.py)", "",
             "[general]", "static = yes", "writeprotect = yes", "clearglobalvars = yes", "",
             "[globals]", f"HOTLINE_APP = {a.app}", f"HOTLINE_PROMPTS = {prompts}",
             f"HOTLINE_RECORDINGS = {layout.recordings}", f"HOTLINE_INBOUND = {a.inbound_extension}", ""]

    # Caller language: zh only when the zh core sounds exist, else Asterisk would fail every core prompt.
    if settings.hotline.language == "zh":
        lang = "Set(CHANNEL(language)=${IF(${STAT(d,${ASTDATADIR}/sounds/zh)}?zh:en)})"
    else:
        lang = "Set(CHANNEL(language)=en)"
    inbound = [
        "NoOp(hotline inbound ${EXTEN} from ${CALLERID(num)})", lang, "Set(HOTLINE_DIALED=${EXTEN})",
        "Stasis(${HOTLINE_APP},inbound,${EXTEN})",
        # FAILED: the app is not registered (our service is down) or Stasis could not start.
        'GotoIf($["${STASISSTATUS}" = "FAILED"]?fallback)',
        'GotoIf($["${HOTLINE_CONTINUE}" = "fallback"]?handed)', "Hangup()",
        "n(fallback),Set(HOTLINE_FALLBACK_REASON=stasis_failed)", "Goto(hotline-fallback,s,1)",
        "n(handed),Set(HOTLINE_FALLBACK_REASON=app_requested)", "Goto(hotline-fallback,s,1)",
    ]
    lines.append("[hotline-inbound]")
    _ext(lines, "_X.", inbound)
    _ext(lines, "s", ["Goto(${HOTLINE_INBOUND},1)"])
    lines.append("")

    # Closes our call row with who hung up, wherever the call ends (app_queue, the fallback message, ...).
    push_hangup = "Set(CHANNEL(hangup_handler_push)=hotline-agi-hangup,s,1)"
    agi_steps = [
        "NoOp(hotline AGI flow ${EXTEN})", push_hangup, "Set(HOTLINE_DIALED=${IF($[\"${HOTLINE_DIALED}\" = \"\"]?"
        "${CALLERID(dnid)}:${HOTLINE_DIALED})})", f"AGI({agi_base}/flow/${{EXTEN}})",
        'GotoIf($["${AGISTATUS}" = "FAILURE"]?fallback)',
        'GotoIf($["${HOTLINE_CONTINUE}" = "fallback"]?handed)', "Hangup()",
        "n(fallback),Set(HOTLINE_FALLBACK_REASON=agi_failed)", "Goto(hotline-fallback,s,1)",
        "n(handed),Set(HOTLINE_FALLBACK_REASON=app_requested)", "Goto(hotline-fallback,s,1)",
    ]
    lines.append("[hotline-agi]")
    # Two leading characters: a one-letter pattern would also catch the special h/i/t extensions.
    _ext(lines, "_[a-z][a-z0-9]!", agi_steps)
    _ext(lines, "s", [f"Goto({settings.hotline.flow},1)"])
    lines.append("")

    lines.append("[hotline-lookup-example]")
    _ext(lines, "_X.", [
        "NoOp(site dialplan: ask hotline which queue, then app_queue)", push_hangup, "Answer()",
        # Sets HOTLINE_QUEUE (?queue=NAME, else emergency/special-care/general) and HOTLINE_PRIORITY.
        f"AGI({agi_base}/lookup)",
        'GotoIf($["${AGISTATUS}" = "FAILURE" | "${HOTLINE_QUEUE}" = ""]?fallback)',
        "Set(QUEUE_PRIO=${HOTLINE_PRIORITY})",
        # The app_queue queue of that name (ours from the database, or the site's), else the fallback queue.
        *pick_queue_steps(),
        f"Queue(${{HOTLINE_APP_QUEUE}},t,,,{wait})",
        # The site's queue gave up: straight to the message, not through a second queue wait.
        "Set(HOTLINE_FALLBACK_REASON=lookup_queue)", "Goto(hotline-fallback,message,1)",
        "n(fallback),Set(HOTLINE_FALLBACK_REASON=lookup)", "Goto(hotline-fallback,s,1)",
    ])
    lines.append("")

    # Where an AGI flow that wants a person leaves AGI (ivr/agi/queue.py sets the variables): app_queue.
    lines.append("[hotline-agi-queue]")
    _ext(lines, "s", [
        "NoOp(hotline AGI queue ${HOTLINE_QUEUE} prio ${QUEUE_PRIO} skill ${HOTLINE_SKILL} call ${HOTLINE_CALL_ID})",
        f"Set(HOTLINE_APP_QUEUE={FALLBACK_QUEUE})",
        'GotoIf($["${HOTLINE_QUEUE}" = ""]?join)',  # QUEUE_EXISTS() of nothing logs an error
        *pick_queue_steps()[1:],
        "n(join),Set(HOTLINE_QUEUE_WAIT=${FILTER(0-9,${HOTLINE_QUEUE_WAIT})})",
        # The queue's max wait from our database when given (0 would mean no limit in Queue()), else ours.
        f"Queue(${{HOTLINE_APP_QUEUE}},t,,,${{IF($[0${{HOTLINE_QUEUE_WAIT}} > 0]?${{HOTLINE_QUEUE_WAIT}}:{wait})}})",
        "Set(HOTLINE_FALLBACK_REASON=agi_queue)", "Goto(hotline-fallback,message,1)",
    ])
    lines.append("")

    lines.append("[hotline-agi-hangup]")
    lines.append("; hangup handler (CHANNEL(hangup_handler_push)): closes our call row, side from hangupsource")
    _ext(lines, "s", [f"AGI({agi_base}/hangup)", "Return()"])
    lines.append("")

    msg = "${HOTLINE_RECORDINGS}/fallback-${UNIQUEID}"
    lines.append("[hotline-fallback]")
    _ext(lines, "s", [
        "NoOp(hotline fallback: ${HOTLINE_FALLBACK_REASON})",
        'Set(HOTLINE_FALLBACK_REASON=${IF($["${HOTLINE_FALLBACK_REASON}" = ""]?direct:${HOTLINE_FALLBACK_REASON})})',
        "Answer()", f"Queue(hotline-fallback,t,,,{wait})",
        "Goto(message,1)",
    ])
    _ext(lines, "message", [
        "NoOp(hotline fallback message after ${QUEUESTATUS})",
        "Playback(${HOTLINE_PROMPTS}/fallback/message)",  # ours when the prompts are installed
        'ExecIf($["${PLAYBACKSTATUS}" != "SUCCESS"]?Playback(vm-intro))',
        f"Set(HOTLINE_MESSAGE={msg}.wav)",
        # The sidecar is what the sweeper (ivr/calls/fallback_messages.py) turns into a callback work order. Not
        # FILE(): Asterisk blocks that "dangerous" function on a channel that has been in Stasis or AGI.
        # Every value is FILTERed to a shell-inert charset (no spaces, quotes, globs, ';', '$').
        # "--/" in a FILTER is the range '-'..'/' (a bare '-' cannot be listed) and must come first: after
        # another char "x--" would be a range from x, and a backwards range lets EVERY character through.
        # HOTLINE_FALLBACK_DETAIL is our app's reason in words, if it gave one.
        "Set(HOTLINE_MESSAGE_META=uniqueid=${UNIQUEID} caller=${FILTER(0-9+,${CALLERID(num)})}"
        " dialed=${FILTER(0-9A-Za-z+,${HOTLINE_DIALED})}"
        " reason=${FILTER(a-z_,${REPLACE(HOTLINE_FALLBACK_REASON,-,_)})}"
        " detail=${FILTER(--/0-9A-Za-z_:,${REPLACE(HOTLINE_FALLBACK_DETAIL, ,_)})}"
        " queue_status=${FILTER(A-Z_,${QUEUESTATUS})} epoch=${EPOCH})",
        f"System(echo ${{HOTLINE_MESSAGE_META}} | xargs -n1 > {msg}.tmp && mv {msg}.tmp {msg}.txt)",
        # k: keep the message when the caller hangs up to end it, which is how most people finish.
        f"Record(${{HOTLINE_MESSAGE}},8,{a.fallback_message_seconds},k)",
        "Playback(${HOTLINE_PROMPTS}/fallback/thanks)",
        'ExecIf($["${PLAYBACKSTATUS}" != "SUCCESS"]?Playback(vm-goodbye))', "Hangup()",
    ])
    lines.append("")

    lines.append("[hotline-agents]")
    lines.append("; agent phones may reach the echo test and the hotline itself, nothing that leaves the box")
    _ext(lines, "600", ["Answer()", "Playback(demo-echotest)", "Echo()", "Hangup()"])
    _ext(lines, a.inbound_extension, ["Goto(hotline-inbound,${EXTEN},1)"])
    _ext(lines, "_X.", ["Answer()", "Playback(ss-noservice)", "Hangup()"])
    lines.append("")

    lines += ["[hotline-test]",
              "; the other half of originated Local channels in integration tests; no endpoint lands here"]
    _ext(lines, "_dtmf-.", ["Answer()", "Wait(${IF($[\"${HOTLINE_TEST_WAIT}\" = \"\"]?1:${HOTLINE_TEST_WAIT})})",
                            "SendDTMF(${EXTEN:5},250)", "Wait(120)", "Hangup()"])
    _ext(lines, "_wait-.", ["Answer()", "Wait(${EXTEN:5})", "Hangup()"])
    _ext(lines, "wait", ["Answer()", "Wait(300)", "Hangup()"])
    _ext(lines, "play", ["Answer()", "Wait(${IF($[\"${HOTLINE_TEST_WAIT}\" = \"\"]?0:${HOTLINE_TEST_WAIT})})",
                         "Playback(${IF($[\"${HOTLINE_TEST_SOUND}\" = \"\"]?demo-congrats:${HOTLINE_TEST_SOUND})})",
                         "Wait(120)", "Hangup()"])
    _ext(lines, "record", ["Answer()", "Set(HOTLINE_TEST_RECORDING=${HOTLINE_RECORDINGS}/test-${UNIQUEID}.wav)",
                           "Record(${HOTLINE_TEST_RECORDING},0,60,kq)", "Hangup()"])
    _ext(lines, "echo", ["Answer()", "Echo()", "Hangup()"])
    _ext(lines, "inbound", ["Goto(hotline-inbound,${HOTLINE_INBOUND},1)"])
    lines.append("")
    return "\n".join(lines)


def generate(settings: Settings, agents: Sequence[AgentPhone], layout: Layout, *,
             queues: Sequence[QueueSpec] = (), sip_timers: SipTimers | None = None) -> dict[str, str]:
    """All config files of one instance: {file name in the instance's etc dir: text}.

    `queues` are the database queues (each becomes an app_queue queue of the phones with its skill; one that
    app_queue cannot load is listed as skipped in queues.conf). `sip_timers` None keeps pjsip's defaults.
    """
    _validate(settings, agents, sip_timers)
    return {
        "asterisk.conf": asterisk_conf(layout),
        "modules.conf": modules_conf(),
        "logger.conf": logger_conf(),
        "http.conf": http_conf(settings),
        "ari.conf": ari_conf(settings),
        "manager.conf": _ini([("general", [("enabled", "no"), ("bindaddr", "127.0.0.1")])], "manager.conf (off)"),
        "cdr.conf": _ini([("general", [("enable", "no")])], "cdr.conf (our database keeps the call records)"),
        "pjsip.conf": pjsip_conf(settings, agents, sip_timers),
        "rtp.conf": rtp_conf(settings),
        "indications.conf": indications_conf(settings),
        "musiconhold.conf": musiconhold_conf(layout),
        "queues.conf": queues_conf(settings, agents, queues),
        "extensions.conf": extensions_conf(settings, layout),
    }


def agents_from_settings(settings: Settings) -> list[AgentPhone]:
    """Phones of [asterisk] agent_phones: no skills (only the database knows them), so fallback-only."""
    return [AgentPhone(name, pw) for name, pw in sorted(settings.asterisk.agent_phones.items())]
