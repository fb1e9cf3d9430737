"""Departments (专业部门 / 处置单位): who fixes what. Cases, rules and components point at them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from citymgmt.core.db import Timestamped, db

DEPARTMENT_KINDS = (
    "water",  # 供水
    "drainage",  # 排水
    "power",  # 供电
    "gas",  # 燃气
    "roads",  # 道路 / 市政
    "landscaping",  # 园林绿化
    "sanitation",  # 环卫
    "traffic_police",  # 交警
    "enforcement",  # 城管执法
    "street_office",  # 街道办
    "other",
)


class Department(Timestamped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))  # zh-CN
    name_en: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    # The district it serves, or none for a city-wide department (a utility).
    district_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"), index=True)
    # A street office serves its street.
    street_code: Mapped[str | None] = mapped_column(ForeignKey("areas.code"), index=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
