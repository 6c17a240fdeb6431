"""The opt-out pages' words, per language (the contact's language decides; English otherwise)."""

TEXTS = {
    "en": {
        "title": "Message preferences",
        "confirm": "Do you want to stop receiving WhatsApp messages from us?",
        "stop_marketing": "Stop promotional messages",
        "stop_marketing_help": "You will still get messages about your orders and account.",
        "stop_all": "Stop all messages",
        "done": "Done. You will not receive these messages any more.",
        "done_all": "You will not receive any more WhatsApp messages from us.",
        "resubscribe_prompt": "Changed your mind?",
        "resubscribe": "Subscribe again",
        "resubscribed": "You are subscribed again. Thank you!",
        "invalid": "This link is not valid. Please use the link from your latest message.",
        "limited": "Too many requests. Please try again in a minute.",
    },
    "es": {
        "title": "Preferencias de mensajes",
        "confirm": "¿Quieres dejar de recibir nuestros mensajes de WhatsApp?",
        "stop_marketing": "No recibir mensajes promocionales",
        "stop_marketing_help": "Seguirás recibiendo mensajes sobre tus pedidos y tu cuenta.",
        "stop_all": "No recibir ningún mensaje",
        "done": "Hecho. Ya no recibirás estos mensajes.",
        "done_all": "Ya no recibirás más mensajes de WhatsApp nuestros.",
        "resubscribe_prompt": "¿Has cambiado de opinión?",
        "resubscribe": "Volver a suscribirme",
        "resubscribed": "Te has vuelto a suscribir. ¡Gracias!",
        "invalid": "Este enlace no es válido. Usa el enlace de tu último mensaje.",
        "limited": "Demasiadas solicitudes. Inténtalo de nuevo dentro de un minuto.",
    },
    "pt": {
        "title": "Preferências de mensagens",
        "confirm": "Quer deixar de receber nossas mensagens no WhatsApp?",
        "stop_marketing": "Parar mensagens promocionais",
        "stop_marketing_help": "Você continuará recebendo mensagens sobre seus pedidos e sua conta.",
        "stop_all": "Parar todas as mensagens",
        "done": "Pronto. Você não receberá mais essas mensagens.",
        "done_all": "Você não receberá mais mensagens nossas no WhatsApp.",
        "resubscribe_prompt": "Mudou de ideia?",
        "resubscribe": "Inscrever-me novamente",
        "resubscribed": "Sua inscrição foi renovada. Obrigado!",
        "invalid": "Este link não é válido. Use o link da sua mensagem mais recente.",
        "limited": "Muitas solicitações. Tente novamente em um minuto.",
    },
}


def texts_for(language: str) -> tuple[str, dict]:
    """('pt', texts) for 'pt_BR'; English when the language has no translation."""
    code = (language or "").lower()[:2]
    return (code, TEXTS[code]) if code in TEXTS else ("en", TEXTS["en"])
