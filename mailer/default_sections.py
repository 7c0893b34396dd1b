"""The digest sections a new installation starts with (title → Korean and English keywords)."""

from __future__ import annotations

#: Default digest sections (title → keywords, Korean and English). A story goes to the
#: section whose keywords it matches best; one that matches none goes to ``fallback_section``.
# fmt: off
DEFAULT_SECTIONS: dict[str, list[str]] = {
    "정책·지원": [
        "정부", "정책", "지원사업", "지원", "규제", "법안", "예산", "지자체", "시흥시",
        "산업부", "복지부", "식약처", "과기정통부", "공모", "육성", "특구", "클러스터",
        "policy", "regulation", "government", "grant",
    ],
    "기업·투자": [
        "투자", "유치", "상장", "IPO", "인수", "합병", "M&A", "기술이전", "계약", "매출",
        "실적", "펀드", "벤처", "스타트업", "공장", "CDMO", "CMO",
        "investment", "funding", "acquisition", "merger", "licensing",
    ],
    "연구·임상": [
        "연구", "임상", "신약", "치료제", "백신", "허가", "승인", "논문", "개발", "특허",
        "항체", "세포치료", "유전자", "바이오마커",
        "clinical", "trial", "research", "approval", "study",
    ],
    "해외": [
        "미국", "중국", "일본", "유럽", "EU", "글로벌", "해외", "FDA", "EMA", "보스턴",
        "global", "overseas",
    ],
}
# fmt: on
