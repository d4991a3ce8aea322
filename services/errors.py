"""Domain errors raised by the rules and mapped to gRPC statuses in one place (services.server).

Each carries a human message, an UPPER_SNAKE_CASE reason and metadata (AIP-193 ErrorInfo), and,
for bad input, the fields at fault with their problems (google.rpc.BadRequest).
"""


class DomainError(Exception):
    """A failure the client can understand and act on."""
    reason = 'ERROR'

    def __init__(self, message, *, reason=None, violations=(), **metadata):
        super().__init__(message)
        self.message = message
        self.reason = reason or self.reason
        self.violations = list(violations)  # (field, problem) pairs
        self.metadata = {key: str(value) for key, value in metadata.items()}


class InvalidArgument(DomainError):
    """Bad input; the message starts with the field it names."""
    reason = 'INVALID_ARGUMENT'

    def __init__(self, field, problem, **kwargs):
        super().__init__(f'{field}: {problem}', violations=[(field, problem)], **kwargs)
        self.field = field
        self.problem = problem


class InvalidArguments(DomainError):
    """Several bad values found at once (the rows of an import), each its own field violation."""
    reason = 'INVALID_ARGUMENT'

    def __init__(self, problems):
        """`problems`: an InvalidArgument for each bad value, in order; the message names the first."""
        others = len(problems) - 1
        more = f' (and {others} more invalid value{"s" if others > 1 else ""})' if others else ''
        super().__init__(problems[0].message + more, violations=[(problem.field, problem.problem)
                                                                 for problem in problems],
                         violation_count=len(problems))


class NotFound(DomainError):
    reason = 'NOT_FOUND'


class AlreadyExists(DomainError):
    reason = 'ALREADY_EXISTS'


class FailedPrecondition(DomainError):
    """The request is valid but the resource's state does not allow it now."""
    reason = 'FAILED_PRECONDITION'


class Unauthenticated(DomainError):
    """No token where one is needed, or one that is not valid."""
    reason = 'UNAUTHENTICATED'


class PermissionDenied(DomainError):
    """The caller is known but may not make this call."""
    reason = 'PERMISSION_DENIED'


class Unavailable(DomainError):
    """A service this one depends on could not answer; retrying later may work."""
    reason = 'UNAVAILABLE'


class ProductNotFound(NotFound):
    reason = 'PRODUCT_NOT_FOUND'

    def __init__(self, product_id):
        super().__init__(f'product {product_id} not found', product_id=product_id)
        self.product_id = product_id


class InsufficientStock(FailedPrecondition):
    reason = 'INSUFFICIENT_STOCK'

    def __init__(self, product_id, requested, available, product_name=None):
        label = f'product {product_id}' + (f' ({product_name})' if product_name else '')
        names = {'product_name': product_name} if product_name else {}
        super().__init__(f'not enough stock for {label}: {requested} requested, {available} available',
                         product_id=product_id, requested=requested, available=available, **names)
        self.product_id = product_id
        self.requested = requested
        self.available = available
