"""One module per aggregate. Importing this package registers every model with the metadata."""

from arrears.models.approvals import Approval, ApprovalStatus
from arrears.models.audit import AuditEvent
from arrears.models.base import TENANT_MODELS, TenantScoped
from arrears.models.cases import (
    Case,
    CaseEvent,
    CaseStatus,
    Debtor,
    DebtorContact,
    ImportBatch,
    ImportMapping,
    ImportStatus,
)
from arrears.models.jobs import JobRecord, JobStatus
from arrears.models.orgs import Organisation, OrgKind, OrgStatus, Partnership, PartnershipStatus, Team
from arrears.models.users import (
    ApiToken,
    ApiTokenAudience,
    AuthThrottle,
    Role,
    RolePermission,
    User,
    UserRole,
    UserSession,
    UserStatus,
)

__all__ = [
    "TENANT_MODELS",
    "ApiToken",
    "ApiTokenAudience",
    "Approval",
    "ApprovalStatus",
    "AuditEvent",
    "AuthThrottle",
    "Case",
    "CaseEvent",
    "CaseStatus",
    "Debtor",
    "DebtorContact",
    "ImportBatch",
    "ImportMapping",
    "ImportStatus",
    "JobRecord",
    "JobStatus",
    "OrgKind",
    "OrgStatus",
    "Organisation",
    "Partnership",
    "PartnershipStatus",
    "Role",
    "RolePermission",
    "Team",
    "TenantScoped",
    "User",
    "UserRole",
    "UserSession",
    "UserStatus",
]
