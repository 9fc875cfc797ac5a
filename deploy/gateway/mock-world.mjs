// The official mock puppet (wechaty-puppet-mock) with a world read from a JSON file and a small
// HTTP control port, so tests can speak as residents and workers and see what the bot sent.
//
// The world file has the shape of linggong's bot.gateway.World: bot_id, bot_name, contacts
// [{id, name, friend, alias}], rooms [{id, topic, member_ids, owner_id}].
//
// Like a real account, the puppet logs in by itself only on its first start (unless the world
// says "needs_scan": true); once it has been stopped (a client sent Stop) it shows a QR code
// again and waits for POST /scan, which stands for someone scanning it.  GET /state counts starts, stops, logins and logouts.
//
// Control (JSON over HTTP on 127.0.0.1):
//   GET  /state                 counts, whether the account is logged in, bots connected (streams)
//   GET  /sent?since=N          what the bot sent: {conversation, text, mentions, at}
//   POST /message               {talker, room | listener, text, type, timestamp, id, mentions, repeat}
//                               emits a message event (repeat: how many times the event is sent)
//   POST /scan                  the QR code is scanned: the account logs in
//   POST /logout                the account is logged out (as when WeChat ends the session)

import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'

import { mock, PuppetMock } from 'wechaty-puppet-mock'

const TEXT = 7

export async function startMock (env) {
  if (!env.LINGGONG_GATEWAY_WORLD) throw new Error('puppet mock needs LINGGONG_GATEWAY_WORLD (a JSON world file)')
  const world = JSON.parse(readFileSync(env.LINGGONG_GATEWAY_WORLD, 'utf8'))
  const mocker = new mock.Mocker()
  const puppet = new PuppetMock({ mocker })

  const bot = mocker.createContact({ id: world.bot_id, name: world.bot_name, friend: true })
  for (const c of world.contacts || []) {
    if (c.id === world.bot_id) continue
    const contact = mocker.createContact({ id: c.id, name: c.name, alias: c.alias || '' })
    contact.payload.friend = c.friend !== false
  }
  for (const r of world.rooms || []) {
    mocker.createRoom({
      id: r.id,
      topic: r.topic,
      memberIdList: [world.bot_id, ...(r.member_ids || []).filter((id) => id !== world.bot_id)],
      ownerId: r.owner_id || '',
      adminIdList: [],
    })
  }

  const counts = { starts: 0, stops: 0, logins: 0, logouts: 0, scans: 0 }
  const sent = []
  let qrcode = ''

  const onStart = puppet.onStart.bind(puppet)
  puppet.onStart = async () => {
    counts.starts += 1
    await onStart()
    setImmediate(() => {
      if (counts.stops === 0 && !world.needs_scan) {
        mocker.login(bot)
      } else {
        qrcode = `https://login.weixin.qq.com/l/mock-${randomUUID()}`
        counts.scans += 1
        mocker.scan(qrcode)
      }
    })
  }
  const onStop = puppet.onStop.bind(puppet)
  puppet.onStop = async () => {
    counts.stops += 1
    await onStop()
  }
  puppet.on('login', () => { counts.logins += 1; qrcode = '' })
  puppet.on('logout', () => { counts.logouts += 1 })

  const sendText = puppet.messageSendText.bind(puppet)
  puppet.messageSendText = async (conversationId, text, mentionIdList) => {
    sent.push({ conversation: conversationId, text, mentions: mentionIdList || [], at: Date.now() })
    return sendText(conversationId, text)
  }

  function emitMessage (m) {
    const id = m.id || randomUUID()
    const payload = {
      id,
      talkerId: m.talker,
      text: m.text ?? '',
      type: m.type ?? TEXT,
      timestamp: m.timestamp ?? Date.now(),
    }
    if (m.room) {
      payload.roomId = m.room
      payload.mentionIdList = m.mentions || []
    } else {
      payload.listenerId = m.listener || world.bot_id
    }
    mocker.MessageMock.create(payload)
    for (let i = 0; i < (m.repeat || 1); i++) puppet.emit('message', { messageId: id })
    return id
  }

  const routes = {
    'GET /state': () => ({
      ...counts, loggedIn: puppet.isLoggedIn, qrcode, sent: sent.length, streams: puppet.listenerCount('message'),
    }),
    'GET /sent': (_body, url) => ({ total: sent.length, sent: sent.slice(Number(url.searchParams.get('since') || 0)) }),
    'POST /message': (body) => ({ id: emitMessage(body) }),
    'POST /scan': () => { mocker.login(bot); return { ok: true } },
    'POST /logout': async () => { await puppet.logout('logged out by the test'); return { ok: true } },
  }

  const server = createServer((req, res) => {
    let raw = ''
    req.setEncoding('utf8')
    req.on('data', (chunk) => { raw += chunk })
    req.on('end', async () => {
      const url = new URL(req.url, 'http://control')
      const route = routes[`${req.method} ${url.pathname}`]
      try {
        if (!route) throw new Error(`no route ${req.method} ${url.pathname}`)
        const result = await route(raw ? JSON.parse(raw) : {}, url)
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify(result))
      } catch (error) {
        res.writeHead(400, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ error: String(error && error.message) }))
      }
    })
  })
  const port = Number(env.LINGGONG_GATEWAY_CONTROL || 0)
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve))
  return { puppet, control: `127.0.0.1:${server.address().port}` }
}
