"""The digest sections a new installation starts with (title → Korean and English keywords)."""

from __future__ import annotations

#: Default digest sections (title → keywords, Korean and English). A story goes to the
#: section whose keywords it matches best; one that matches none goes to ``fallback_section``.
# fmt: off
DEFAULT_SECTIONS: dict[str, list[str]] = {
    "정책·지원": ["정부", "정책", "지원사업", "지원", "규제", "법안", "예산", "지자체", "시흥시", "산업부", "복지부",
        "식약처", "과기정통부", "중기부", "공모", "육성", "특구", "클러스터", "특화단지", "시행", "개정", "국회",
        "policy", "regulation", "regulator*", "government", "grant", "budget", "ministry", "law"],
    "기업·투자": ["투자", "유치", "상장", "IPO", "인수", "합병", "M&A", "기술이전", "기술수출", "라이선스", "계약",
        "협약", "제휴", "공동개발", "수주", "공급", "매출", "실적", "영업이익", "영업익", "순이익", "펀드", "벤처",
        "스타트업", "공장", "착공", "준공", "CDMO", "CMO", "코스닥", "공모가", "시리즈", "주가", "상한가",
        "investment", "invest", "funding", "financing", "raise", "acquisition", "acquir*", "buy", "buyout",
        "snaps up", "merger", "deal", "inks", "pact", "partner*", "collaborat*", "alliance", "licensing", "license",
        "revenue", "sales", "earnings", "profit", "quarter", "manufacturing", "plant", "restructuring", "layoff*",
        "series a", "series b", "series c", "series d"],
    "연구·임상": ["연구", "임상", "신약", "치료제", "백신", "허가", "승인", "논문", "개발", "특허", "항체",
        "세포치료", "유전자", "바이오마커", "투약", "유효성", "진단", "게재", "clinical", "trial", "research",
        "approval", "approve", "nod", "clear", "reject", "phase", "study", "data", "scientists", "researchers",
        "gene*", "submit*", "application"],
    "해외": ["미국", "중국", "일본", "유럽", "EU", "글로벌", "해외", "보스턴", "global", "overseas", "tariff*",
        "export*", "administration", "pricing", "china", "japan", "india*", "europe*"],
}
# fmt: on
