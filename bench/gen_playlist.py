"""Deterministic generator of realistic Xtream ``m3u_plus`` playlists for benchmarks.

~10% live channels, ~40% movies (``/movie/`` URLs), ~50% series episodes
(``/series/`` URLs), ~2,000 groups, Portuguese and other non-ASCII names, a
few ``#EXTVLCOPT`` lines and some live entries with extra attributes.

    python bench/gen_playlist.py 850000 out.m3u
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

VERSION = 1
HOST = "http://line.example-iptv.xyz:8080"
USER, PASSWORD = "demo_user", "s3cr3t"
_WORDS = (
    "amor noite cidade perdida coração mar sol verão guerra paz sombra lenda "
    "caminho estrela fogo gelo herói vingança segredo família destino última "
    "ação aventura mistério são joão céu terra fúria rainha reino dragão "
    "night city lost heart sea sun summer war peace shadow legend road star "
    "fire ice hero revenge secret family fate last king queen dragon storm "
    "noche ciudad corazón sueño niño año montaña señor música "
    "schön straße müller über größe été fenêtre élan naïve 東京 愛 夢 حب ليل"
)
WORDS = _WORDS.split()
LIVE_KINDS = (
    "Abertos",
    "Esportes",
    "Notícias",
    "Filmes 24h",
    "Infantil",
    "Documentários",
    "Música",
    "Religiosos",
    "Variedades",
    "Premium",
    "Sports",
    "News",
    "Kids",
)
COUNTRIES = ("BR", "PT", "US", "UK", "ES", "FR", "DE", "IT", "AR", "MX", "JP", "AE")
MOVIE_KINDS = (
    "Ação",
    "Comédia",
    "Drama",
    "Terror",
    "Suspense",
    "Romance",
    "Ficção Científica",
    "Animação",
    "Aventura",
    "Documentário",
    "Lançamentos",
    "Clássicos",
    "Nacionais",
    "4K",
    "Legendados",
    "Dublados",
)
SERIES_KINDS = (
    "Netflix",
    "HBO",
    "Amazon",
    "Disney+",
    "Apple TV",
    "Globoplay",
    "Novelas",
    "Animes",
    "Doramas",
    "Star+",
    "Paramount",
    "Legendadas",
)


def _groups(rng: random.Random) -> tuple[list[str], list[str], list[str]]:
    live = [f"Canais | {c} {k}" for c in COUNTRIES for k in LIVE_KINDS]
    movies = [f"Filmes | {k} {i:02d}" for k in MOVIE_KINDS for i in range(50)]
    series = [f"Séries | {k} {i:02d}" for k in SERIES_KINDS for i in range(60)]
    for groups in (live, movies, series):
        rng.shuffle(groups)
    return live[:150], movies[:750], series[:1100]


def _title(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).title()


def _logo(rng: random.Random) -> str:
    return f"http://image.tmdb.org/t/p/w600_and_h900_bestv2/{rng.getrandbits(64):016x}.jpg"


def _live(rng: random.Random, n: int, group: str) -> str:
    name = f"{_title(rng, 2)} {rng.choice(('HD', 'FHD', 'SD', '4K', 'H265'))}"
    tvg_id = f"{name.split()[0].lower()}.{group.split()[2].lower()}"
    url = f"{HOST}/{USER}/{PASSWORD}/{n}"
    if n % 7 == 0:
        extra = f' tvg-chno="{n % 999}" catchup="xc" catchup-days="{n % 7 + 1}"'
        attrs = f'tvg-id="{tvg_id}" tvg-name="{name}"{extra} tvg-logo="{_logo(rng)}"'
        head = f'#EXTINF:-1 {attrs} group-title="{group}",{name}'
    else:
        head = (
            f'#EXTINF:-1 tvg-id="{tvg_id}" tvg-name="{name}" tvg-logo="{_logo(rng)}"'
            f' group-title="{group}",{name}'
        )
    if n % 13 == 0:
        head += "\n#EXTVLCOPT:http-user-agent=Mozilla/5.0 (SMART-TV; Linux; Tizen 5.0)"
    if n % 17 == 0:
        head += f"\n#EXTVLCOPT:http-referrer={HOST}/"
    return f"{head}\n{url}\n"


def _movie(rng: random.Random, n: int, group: str) -> str:
    name = f"{_title(rng, rng.randint(1, 4))} ({rng.randint(1950, 2025)})"
    ext = rng.choice(("mp4", "mkv", "mp4", "avi"))
    return (
        f'#EXTINF:-1 tvg-id="" tvg-name="{name}" tvg-logo="{_logo(rng)}"'
        f' group-title="{group}",{name}\n{HOST}/movie/{USER}/{PASSWORD}/{n}.{ext}\n'
    )


def _series(rng: random.Random, n: int, group: str, show: str, season: int, ep: int) -> str:
    name = f"{show} S{season:02d} E{ep:02d}"
    return (
        f'#EXTINF:-1 tvg-id="" tvg-name="{name}" tvg-logo="{_logo(rng)}"'
        f' group-title="{group}",{name}\n{HOST}/series/{USER}/{PASSWORD}/{n}.mp4\n'
    )


def generate(items: int, out: Path, seed: int = 20240611) -> int:
    """Write a playlist of ``items`` entries to ``out``; return its size in bytes."""
    rng = random.Random(seed)
    live, movies, series = _groups(rng)
    show, season, ep, show_group = _title(rng, 2), 1, 0, series[0]
    with open(out, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(
            f'#EXTM3U url-tvg="{HOST}/xmltv.php?username={USER}&password={PASSWORD}"'
            f' x-tvg-url="{HOST}/xmltv.php" tvg-shift="0" catchup="xc"\n'
        )
        for n in range(1, items + 1):
            roll = rng.random()
            if roll < 0.10:
                fh.write(_live(rng, n, rng.choice(live)))
            elif roll < 0.50:
                fh.write(_movie(rng, n, rng.choice(movies)))
            else:
                ep += 1
                if ep > rng.randint(8, 24):
                    ep, season = 1, season + 1
                    if season > rng.randint(1, 6):
                        show, season = _title(rng, rng.randint(1, 3)), 1
                        show_group = rng.choice(series)
                fh.write(_series(rng, n, show_group, show, season, ep))
    return out.stat().st_size


def main(argv: list[str]) -> int:
    """CLI: ``gen_playlist.py ITEMS OUT``."""
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    size = generate(int(argv[1]), Path(argv[2]))
    print(f"{argv[2]}: {argv[1]} items, {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
